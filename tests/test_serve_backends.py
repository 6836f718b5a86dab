"""Backends: the model file decides the runtime; PyTorch and ONNX Runtime give the same logits;
a file of another kind, a corrupt one or a batch that does not fit is one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from cocodiff.data.frames import KINECT
from cocodiff.data.pipelines import InferencePipeline, SkeletonSource
from cocodiff.errors import CocodiffError
from serve.backends import Backend, ModelInputError, ModelRunError, model_kind, open_backend
from serve.backends.base import check_logits

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def backends(tiny_model):
    checkpoint, onnx_file = tiny_model
    return open_backend(checkpoint, device="cpu"), open_backend(onnx_file, device="cpu")


def test_the_file_chooses_the_backend(tiny_model, tmp_path):
    checkpoint, onnx_file = tiny_model
    assert (model_kind(checkpoint), model_kind(onnx_file)) == ("pytorch", "onnxruntime")
    for name in ("m.engine", "m.plan"):
        (tmp_path / name).write_bytes(b"engine bytes")
        assert model_kind(tmp_path / name) == "tensorrt"
    unnamed = tmp_path / "model"
    unnamed.write_bytes(checkpoint.read_bytes())
    assert model_kind(unnamed) == "pytorch"  # a torch file is a zip archive


def test_both_backends_offer_the_contract_and_agree_on_the_logits(backends, ucla_dir):
    from cocodiff.data.readers.ucla import read_ucla_json

    torch_backend, onnx_backend = backends
    assert isinstance(torch_backend, Backend) and isinstance(onnx_backend, Backend)
    assert torch_backend.contract == onnx_backend.contract
    assert (torch_backend.name, onnx_backend.name, onnx_backend.device) == ("pytorch", "onnxruntime",
                                                                          "CPUExecutionProvider")
    pipeline = InferencePipeline(onnx_backend.contract, SkeletonSource("kinect20", KINECT))
    clips = [read_ucla_json(path) for path in sorted(ucla_dir.glob("a0*_s0*_e00_v0*.json"))[:6]]
    batch = np.stack([pipeline(clip) for clip in clips])
    a, b = torch_backend.predict(batch), onnx_backend.predict(batch)
    assert a.shape == (6, onnx_backend.contract.num_classes) and a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(a).max())))
    assert (a.argmax(1) == b.argmax(1)).all()
    # other frame counts work too: the frame axis is dynamic
    other = np.random.default_rng(0).normal(size=(2, 1, 37, 25, 3)).astype(np.float32)
    np.testing.assert_allclose(torch_backend.predict(other), onnx_backend.predict(other), rtol=1e-4,
                               atol=1e-4 * max(1.0, float(np.abs(torch_backend.predict(other)).max())))


@pytest.mark.parametrize("batch, message", [
    (np.zeros((1, 1, 16, 20, 3), np.float32), r"shape \[1, 1, 16, 20, 3\]; the model takes \(B, 1, T, 25, 3\)"),
    (np.zeros((1, 16, 25, 3), np.float32), "shape"),
    (np.zeros((0, 1, 16, 25, 3), np.float32), "B, T >= 1"),
    (np.full((1, 1, 16, 25, 3), np.nan, np.float32), "NaN or infinite"),
    (np.array([["a"]]), "must be numeric"),
    ([[1.0]], "must be a numpy array"),
])
def test_a_batch_that_does_not_fit_is_refused(backends, batch, message):
    for backend in backends:
        with pytest.raises(ModelInputError, match=message):
            backend.predict(batch)


def test_asking_for_cuda_says_where_it_really_runs(tiny_model):
    import onnxruntime

    backend = open_backend(tiny_model[1], device="cuda")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    assert backend.device == "CPUExecutionProvider"
    assert backend.notes and "could not use CUDAExecutionProvider" in backend.notes[0]
    assert "CPUExecutionProvider" in backend.describe()


def test_files_of_another_kind_are_one_clear_error(tiny_model, tmp_path):
    checkpoint, onnx_file = tiny_model
    cases = {
        "notes.txt": (b"hello\n", "not a model file cocodiff can run"),
        "fake.onnx": (checkpoint.read_bytes(), "not an ONNX model ONNX Runtime can load"),
        "broken.pt": (b"PK\x03\x04broken", "not a cocodiff checkpoint or corrupt"),
        "graph.pt": (onnx_file.read_bytes(), "not a cocodiff checkpoint or corrupt"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CocodiffError, match=message) as error:
            open_backend(tmp_path / name)
        assert "\n" not in str(error.value) and name in str(error.value)
    with pytest.raises(CocodiffError, match="no such model file"):
        open_backend(tmp_path / "missing.onnx")
    with pytest.raises(CocodiffError, match="is a directory"):
        open_backend(tmp_path)


def test_an_onnx_file_without_a_contract_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["skeleton"], ["logits"])], "g",
                              [helper.make_tensor_value_info("skeleton", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(tmp_path / "plain.onnx"))
    with pytest.raises(CocodiffError, match="plain.onnx: carries no deployment contract"):
        open_backend(tmp_path / "plain.onnx")


def test_a_runtime_failure_is_one_line(backends, monkeypatch):
    torch_backend, onnx_backend = backends

    def out_of_memory(*args):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(a long explanation)")

    monkeypatch.setattr(torch_backend.model, "forward", out_of_memory)
    batch = np.zeros((1, 1, 16, 25, 3), np.float32)
    with pytest.raises(ModelRunError, match="PyTorch failed to run tiny.pt on cpu: CUDA out of memory") as error:
        torch_backend.predict(batch)
    assert "\n" not in str(error.value)
    with pytest.raises(ModelRunError, match=rf"logits of shape \[1, 5\], expected \[1, {onnx_backend.contract.num_classes}\]"):
        check_logits(np.zeros((1, 5)), 1, onnx_backend.contract, "PyTorch")


def test_a_cuda_device_index_reaches_onnx_runtime(tiny_model):
    backend = open_backend(tiny_model[1], device="cuda:1")  # no GPU here: the CPU, and a note
    assert backend.device == "CPUExecutionProvider" or "CUDAExecutionProvider" in backend.providers
    with pytest.raises(CocodiffError, match="use auto, cpu, cuda or cuda:N"):
        open_backend(tiny_model[1], device="gpu0")

