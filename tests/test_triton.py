"""The recogniser on a real Triton Inference Server (PyTriton's bundled tritonserver, on CPU), in
its own environment: ready on 127.0.0.1, logits equal to the in-process runtime's, and Triton's
dynamic batcher folding concurrent requests into batches."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")
import tritonclient.http as triton_http  # noqa: E402

from serve.backends import open_backend  # noqa: E402
from serve.network import free_ports  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
ENVIRONMENT = REPO / ".venv-triton"


@pytest.fixture(scope="session")
def triton_python() -> Path:
    """The interpreter of the Triton environment (numpy < 2, PyTriton, onnxruntime), made once in
    .venv-triton beside the repository's own venv."""
    python = ENVIRONMENT / "bin" / "python"
    check = [str(python), "-c", "import pytriton, onnxruntime, numpy; assert int(numpy.__version__[0]) < 2"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(ENVIRONMENT)], check=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints-triton.txt"),
                              "nvidia-pytriton", "onnxruntime", "numpy", "protobuf"], capture_output=True, text=True)
    if install.returncode != 0:
        pytest.skip(f"could not install the Triton environment: {install.stderr.strip().splitlines()[-1:]}")
    return python


@pytest.fixture(scope="module")
def triton(tiny_model, triton_python):
    http, grpc, metrics = free_ports(3)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([str(triton_python), "-m", "serve.triton", str(tiny_model[1]), "--http-port", str(http),
                                "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--max-batch", "8",
                                "--queue-delay-us", "20000"],
                               env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = triton_http.InferenceServerClient(f"127.0.0.1:{http}", concurrency=16)
    deadline = time.monotonic() + 120
    while True:
        try:
            if client.is_server_ready() and client.is_model_ready("cocodiff"):
                break
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Triton did not come up: {process.stdout.read()[-2000:]}")
        time.sleep(0.5)
    yield client, metrics
    client.close()
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("Triton did not stop within 60 s of SIGTERM") from None


def _request(clips: np.ndarray):
    tensor = triton_http.InferInput("skeleton", list(clips.shape), "FP32")
    tensor.set_data_from_numpy(clips)
    return [tensor], [triton_http.InferRequestedOutput("logits")]


def test_triton_serves_the_model_on_loopback(triton):
    client, _ = triton
    assert client.is_server_live() and client.is_model_ready("cocodiff")
    metadata = client.get_model_metadata("cocodiff")
    assert metadata["inputs"][0]["name"] == "skeleton" and metadata["inputs"][0]["shape"] == [-1, 1, -1, 25, 3]


def test_its_logits_are_the_in_process_runtimes(triton, tiny_model):
    from tiny_runs import calibration_clips

    client, _ = triton
    backend = open_backend(tiny_model[1])
    clips = np.asarray(calibration_clips(), dtype=np.float32)[:6]  # real-like model input, (6, 1, 16, 25, 3)
    inputs, outputs = _request(clips)
    got = client.infer("cocodiff", inputs, outputs=outputs).as_numpy("logits")
    np.testing.assert_allclose(got, backend.predict(clips), rtol=1e-5, atol=1e-5)
    longer = np.repeat(clips[:2], 3, axis=2)  # frames are dynamic
    inputs, outputs = _request(longer)
    np.testing.assert_allclose(client.infer("cocodiff", inputs, outputs=outputs).as_numpy("logits"),
                               backend.predict(longer), rtol=1e-5, atol=1e-5)


def test_the_dynamic_batcher_folds_concurrent_requests(triton, tiny_model):
    from tiny_runs import calibration_clips

    client, metrics_port = triton
    backend = open_backend(tiny_model[1])
    clips = np.asarray(calibration_clips(), dtype=np.float32)[:16]
    requests = [_request(clips[i:i + 1]) for i in range(16)]
    pending = [client.async_infer("cocodiff", inputs, outputs=outputs) for inputs, outputs in requests]
    got = np.concatenate([request.get_result().as_numpy("logits") for request in pending])
    np.testing.assert_allclose(got, backend.predict(clips), rtol=1e-5, atol=1e-5)
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()

    def counter(name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") and 'model="cocodiff"' in line)

    inferences, executions = counter("nv_inference_count"), counter("nv_inference_exec_count")
    assert inferences >= 16 and executions < inferences  # some requests ran together in one batch
