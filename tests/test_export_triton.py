"""The Triton model repository: written from a checkpoint, read back through Triton's own schema
(tritonclient's model_config_pb2), consistent with the ONNX file it holds."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] is not installed")
from google.protobuf import text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2  # noqa: E402

from cocodiff.cli import run_cli  # noqa: E402
from cocodiff.contract import DeploymentContract  # noqa: E402
from export.triton import main  # noqa: E402
from export.triton_repository import CONTRACT_PARAMETER, RepositoryOptions, model_config, write_repository  # noqa: E402
from tiny_runs import contract_for  # noqa: E402


def parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def test_the_repository_of_a_checkpoint(tiny_model, tmp_path, capsys):
    import onnx

    checkpoint, _ = tiny_model
    assert run_cli(main, [str(checkpoint), "--out", str(tmp_path / "repo"), "--max-batch", "8"]) == 0
    folder = tmp_path / "repo" / "cocodiff"
    config = parse((folder / "config.pbtxt").read_text())
    assert config.name == "cocodiff" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 8
    assert list(config.input[0].dims) == [1, -1, 25, 3] and config.input[0].name == "skeleton"
    assert config.input[0].data_type == model_config_pb2.TYPE_FP32
    contract = DeploymentContract.from_dict(json.loads(config.parameters[CONTRACT_PARAMETER].string_value))
    assert list(config.output[0].dims) == [contract.num_classes] and config.output[0].label_filename == "labels.txt"
    assert (folder / "labels.txt").read_text().splitlines() == list(contract.classes)
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    graph = onnx.load(str(folder / "1" / "model.onnx"))
    assert [i.name for i in graph.graph.input] == ["skeleton"] and [o.name for o in graph.graph.output] == ["logits"]
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value or None for d in dims][1:] == [1, None, 25, 3]  # batch and frames dynamic, as the config
    assert "wrote" in capsys.readouterr().out


def test_a_tensorrt_engine_adds_a_plan_model_within_its_profile(tiny_model, tmp_path, capsys):
    checkpoint, _ = tiny_model
    engine = tmp_path / "best.engine"
    engine.write_bytes(b"an engine is opaque bytes")
    from cocodiff.engine_file import SIDECAR_FORMAT

    (tmp_path / "best.engine.json").write_text(json.dumps({"format": SIDECAR_FORMAT, "profile": {"min": [1, 1, 16, 25, 3],
                                                                       "opt": [1, 1, 64, 25, 3],
                                                                       "max": [8, 1, 300, 25, 3]}}))
    assert run_cli(main, [str(checkpoint), "--out", str(tmp_path / "repo"), "--engine", str(engine)]) == 0
    plan = parse((tmp_path / "repo" / "cocodiff_trt" / "config.pbtxt").read_text())
    assert plan.platform == "tensorrt_plan" and plan.max_batch_size == 8
    assert plan.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert (tmp_path / "repo" / "cocodiff_trt" / "1" / "model.plan").read_bytes() == engine.read_bytes()
    assert "max_batch_size set to it" in capsys.readouterr().out


def test_names_with_quotes_and_accents_survive_the_text_format(tmp_path):
    contract = contract_for(['say "hi"', "café au lait", "back\\slash"])
    config = parse(model_config(contract, RepositoryOptions(), platform="onnxruntime_onnx", name="m"))
    back = DeploymentContract.from_dict(json.loads(config.parameters[CONTRACT_PARAMETER].string_value))
    assert back.classes == contract.classes


def test_bad_options_and_a_missing_engine_are_one_line(tmp_path, tiny_model):
    from cocodiff.errors import CocodiffError

    with pytest.raises(CocodiffError, match="model name 'a b'"):
        RepositoryOptions(name="a b")
    with pytest.raises(CocodiffError, match="not starting with '.'"):
        RepositoryOptions(name="..")  # REPO/.. would be replaced
    with pytest.raises(CocodiffError, match="no such TensorRT engine"):
        write_repository(tiny_model[1], contract_for(["a"]), tmp_path, engine=tmp_path / "none.engine")


def test_an_engine_of_another_checkpoint_is_refused_and_a_stale_plan_removed(tiny_model, tmp_path, capsys):
    from cocodiff.engine_file import SIDECAR_FORMAT

    checkpoint, _ = tiny_model
    engine = tmp_path / "old.engine"
    engine.write_bytes(b"an engine of last week's model")
    (tmp_path / "old.engine.json").write_text(json.dumps({"format": SIDECAR_FORMAT, "checkpoint_sha256": "0" * 64}))
    repo = tmp_path / "repo"
    assert run_cli(main, [str(checkpoint), "--out", str(repo), "--engine", str(engine)]) == 2
    assert "names another checkpoint" in capsys.readouterr().err
    (repo / "cocodiff_trt" / "1").mkdir(parents=True)  # left by an earlier export with an engine
    assert run_cli(main, [str(checkpoint), "--out", str(repo)]) == 0
    assert sorted(p.name for p in repo.iterdir()) == ["cocodiff"]  # no stale plan, no temporary folders
