"""Faults against `python -m serve` in its own process: a client that disconnects mid-request, and
the server killed and restarted under load (clients get clean errors, nothing hangs)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
import httpx  # noqa: E402

from tiny_runs import free_port  # noqa: E402

pytestmark = pytest.mark.slow


def start(model, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "serve", str(model), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def frame(t: float) -> dict:
    return {"frames": [{"timestamp": t, "persons": [[[0.1 * (j % 5), 0.1 * j - 1, 3.0] for j in range(25)]]}]}


@pytest.fixture()
def server(tiny_model):
    port = free_port()
    process = start(tiny_model[1], port)
    yield f"http://127.0.0.1:{port}", port, process
    process.kill()
    process.wait()


def test_a_client_that_disconnects_mid_request_harms_nobody(server):
    url, port, _ = server
    with httpx.Client(base_url=url, timeout=5) as client:
        session = client.post("/v1/sessions", json={}).json()["session"]
        assert client.post(f"/v1/sessions/{session}/frames", json=frame(0.0)).status_code == 200
        for _ in range(5):  # half a request, then gone
            raw = socket.create_connection(("127.0.0.1", port))
            raw.sendall(f"POST /v1/sessions/{session}/frames HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        "\r\nContent-Length: 5000\r\n\r\n{\"frames\": [".encode())
            raw.close()
        assert client.get("/v2/health/live").status_code == 200
        after = client.post(f"/v1/sessions/{session}/frames", json=frame(0.1))
        assert after.status_code == 200 and after.json()["frames"] == 2  # the session never saw the halves


def test_a_restart_under_load_gives_clean_errors_and_recovers(server, tiny_model):
    url, port, process = server
    outcomes = []
    with httpx.Client(base_url=url, timeout=5) as client:
        session = client.post("/v1/sessions", json={}).json()["session"]
        began = time.monotonic()
        for index in range(60):
            if index == 20:
                process.kill()  # the server dies mid-stream
                process.wait()
            if index == 40:
                restarted = start(tiny_model[1], port)
            try:
                answer = client.post(f"/v1/sessions/{session}/frames", json=frame(index / 30))
                outcomes.append(answer.status_code)
            except httpx.TransportError as error:  # refused or reset: a clean error, at once
                outcomes.append(type(error).__name__)
        elapsed = time.monotonic() - began
        try:
            assert outcomes[:20] == [200] * 20
            assert all(isinstance(o, str) for o in outcomes[20:40])
            # After the restart the old session is gone (404, said so); a new one works.
            assert outcomes[40:] == [404] * 20
            fresh = client.post("/v1/sessions", json={}).json()["session"]
            assert client.post(f"/v1/sessions/{fresh}/frames", json=frame(0.0)).status_code == 200
        finally:
            restarted.kill()
            restarted.wait()
    assert elapsed < 60  # nothing hung: every failed call came back at once
