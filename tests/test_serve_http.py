"""The HTTP API against a real uvicorn server on 127.0.0.1: clips, streaming sessions, health, and
every kind of bad input answered 4xx with one message while the server serves on."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
import httpx  # noqa: E402

from tiny_runs import free_port  # noqa: E402

from cocodiff.data.frames import KINECT  # noqa: E402
from cocodiff.data.pipelines import InferencePipeline, SkeletonSource  # noqa: E402
from serve.backends import open_backend  # noqa: E402
from serve.recognizer import softmax  # noqa: E402

KEY = "correct horse battery staple"


def _serve(app) -> tuple[str, object]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{server.config.port}", (server, thread)


def _stop(handle) -> None:
    server, thread = handle
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def backend(tiny_model):
    return open_backend(tiny_model[1])


@pytest.fixture(scope="module")
def api(backend):
    from serve.http.app import ServerSettings, create_app

    url, handle = _serve(create_app(backend, ServerSettings(max_body_bytes=1 << 20, max_sessions=4,
                                                            idle_timeout_s=30)))
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client
    _stop(handle)


@pytest.fixture(scope="module")
def utd_clip(shared_data):
    from cocodiff.data.readers.utd import read_utd_mat

    return read_utd_mat(shared_data / "utd_mhad" / "a3_s1_t1_skeleton.mat")  # right hand wave, Kinect v1


def test_health_and_the_contract(api, backend):
    assert api.get("/v2/health/live").json() == {"status": "live"}
    assert api.get("/v2/health/ready").json() == {"status": "ready"}
    model = api.get("/v1/model").json()
    assert model["contract"]["classes"] == list(backend.contract.classes)
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/classify", "/v1/sessions", "/v1/sessions/{session_id}/frames", "/v1/sessions/{session_id}",
            "/v2/health/live", "/v2/health/ready", "/v1/model"} <= set(paths)


def test_a_real_clip_of_another_layout_is_classified_as_offline(api, backend, utd_clip):
    answer = api.post("/v1/classify", json={"keypoint": utd_clip["keypoint"].tolist(), "layout": "kinect20",
                                             "top_k": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = softmax(backend.predict(InferencePipeline(backend.contract, SkeletonSource("kinect20", KINECT))(
        {"keypoint": utd_clip["keypoint"]})[None]))[0]
    best = np.argsort(-expected)[:3]
    assert [entry["name"] for entry in body["top"]] == [backend.contract.classes[i] for i in best]
    assert [entry["probability"] for entry in body["top"]] == pytest.approx(expected[best], abs=1e-6)
    assert body["frames"] == utd_clip["keypoint"].shape[1]


def test_a_streaming_session_from_open_to_close(api, utd_clip):
    created = api.post("/v1/sessions", json={"layout": "kinect20", "fps": 30})
    assert created.status_code == 201
    session = created.json()["session"]
    keypoint = utd_clip["keypoint"][0]  # (T, 20, 3): one person
    frames = [{"timestamp": t / 30, "persons": [keypoint[t].tolist()]} for t in range(len(keypoint))]
    states = [api.post(f"/v1/sessions/{session}/frames", json={"frames": frames[i:i + 10]}).json()
              for i in range(0, len(frames), 10)]
    assert states[0]["persons"][0]["status"] == "warming_up" and states[0]["frames"] == 10
    last = states[-1]
    assert last["frames"] == len(frames) and last["persons"][0]["status"] in ("recognised", "unknown")
    assert len(last["persons"][0]["top"]) == 5
    assert api.get(f"/v1/sessions/{session}").json()["frames"] == len(frames)
    assert api.delete(f"/v1/sessions/{session}").status_code == 204
    gone = api.get(f"/v1/sessions/{session}")
    assert gone.status_code == 404 and "no session" in gone.json()["detail"]


def _session(api) -> str:
    return api.post("/v1/sessions", json={}).json()["session"]


def _frame(t: float, joints: int = 25) -> dict:
    return {"timestamp": t, "persons": (np.ones((1, joints, 3)) * [0.1, 0.5, 3.0]).tolist()}


@pytest.mark.parametrize("body, problem", [
    (b"not json", "the body is not valid JSON"),
    (b"", "the request has no body: send a JSON object"),
    (b'{"keypoint": [[[1, 2, 3]]]}', "keypoint has shape [1, 1, 3]"),
    (b'{"keypoint": [[[[1, 2, 3]]]]}', "expected (M, T, V=25, C=3)"),
    (b'{"keypoint": [[[[1, 2]]]], "layout": "coco17"}', "expected (M, T, V=17, C=2)"),
    (json.dumps({"keypoint": [[[[0.0, 0.0, float("nan")]] * 25]]}).encode(), "NaN or infinite"),
    (b'{"keypoint": [[' + b",".join([b"[1e999, 0, 0]"] * 25).join([b"[", b"]"]) + b"]]}", "NaN or infinite"),
    (b'{"keypoint": [[["a", "b", "c"]]]}', "rectangular array of numbers"),
    (b'{"keypoint": [[[' + b",".join([b'["1", "2", "3"]'] * 25) + b"]]]}", "rectangular array of numbers"),
    (b'{"keypoint": [[[' + b",".join([b"[true, false, true]"] * 25) + b"]]]}", "rectangular array of numbers"),
    (b'{"keypoint": [[[[1, 2, 3]], [[1, 2]]]]}', "rectangular array of numbers"),
    (b'{"keypoint": [], "layout": "hands21"}', "unknown layout 'hands21'"),
    (b'{"keypoint": [], "frame": "sideways"}', "unknown coordinate frame 'sideways'"),
    (b'{"keypoint": [], "colour": "red"}', "colour: Extra inputs are not permitted"),
    (b'{"keypoint": [[]]}', "a clip needs a person and a frame"),
])
def test_bad_clips_are_422_with_one_message(api, body, problem):
    answer = api.post("/v1/classify", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert problem in answer.json()["detail"] and "\n" not in answer.json()["detail"]


def test_a_huge_body_is_413_announced_or_not(api):
    huge = b"[" + b"0," * (600 << 10) + b"0]"
    answer = api.post("/v1/classify", content=huge, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "the limit is 1048576 bytes" in answer.json()["detail"]

    def chunks():
        for _ in range(40):
            yield b" " * 50_000

    chunked = api.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert api.get("/v2/health/ready").status_code == 200


@pytest.mark.parametrize("frames, problem", [
    ([{"timestamp": -1.0, "persons": []}], "frames.0.timestamp: Input should be greater than or equal to 0"),
    ([{"timestamp": "0.5", "persons": []}], "frames.0.timestamp: Input should be a valid number"),
    ([{"timestamp": True, "persons": []}], "frames.0.timestamp: Input should be a valid number"),
    ([_frame(0.2), _frame(0.1)], "frames[1]: timestamp 0.1 s is not after the previous frame's 0.2 s"),
    ([{"timestamp": 0.0, "persons": [[[0.0, 0.0]] * 25]}], "frames[0].persons has shape [1, 25, 2]"),
    ([_frame(0.0, joints=20)], "expected (P, V=25, C=3)"),
    ([], "frames: List should have at least 1 item"),
])
def test_bad_frames_are_422_and_the_session_goes_on(api, frames, problem):
    session = _session(api)
    answer = api.post(f"/v1/sessions/{session}/frames", json={"frames": frames})
    assert answer.status_code == 422 and problem in answer.json()["detail"], answer.text
    after = api.post(f"/v1/sessions/{session}/frames", json={"frames": [_frame(5.0)]})
    assert after.status_code == 200 and after.json()["persons"][0]["status"] == "warming_up"
    api.delete(f"/v1/sessions/{session}")


def test_unknown_sessions_are_404(api):
    for method, path in (("GET", "/v1/sessions/nope"), ("DELETE", "/v1/sessions/nope"),
                         ("POST", "/v1/sessions/nope/frames")):
        answer = api.request(method, path, json={"frames": [_frame(0.0)]})
        assert answer.status_code == 404 and "no session 'nope'" in answer.json()["detail"]


def test_sessions_expire_and_are_capped(backend):
    from serve.http.app import ServerSettings, create_app

    url, handle = _serve(create_app(backend, ServerSettings(max_sessions=2, idle_timeout_s=0.5)))
    try:
        with httpx.Client(base_url=url) as client:
            first, second = _session(client), _session(client)
            full = client.post("/v1/sessions", json={})
            assert full.status_code == 429 and "2 sessions are open" in full.json()["detail"]
            time.sleep(0.7)
            expired = client.get(f"/v1/sessions/{first}")
            assert expired.status_code == 404 and "expired after 0.5 s idle" in expired.json()["detail"]
            assert client.post("/v1/sessions", json={}).status_code == 201  # the expired ones made room
            assert second
    finally:
        _stop(handle)


def test_with_a_key_every_route_but_health_needs_it(backend):
    from serve.http.app import KEY_HEADER, ServerSettings, create_app

    url, handle = _serve(create_app(backend, ServerSettings(api_key=KEY)))
    try:
        with httpx.Client(base_url=url) as client:
            assert client.get("/v2/health/ready").status_code == 200
            for headers in ({}, {KEY_HEADER: "wrong"}, {KEY_HEADER: KEY[:-1]}):
                answer = client.post("/v1/sessions", json={}, headers=headers)
                assert answer.status_code == 401 and "missing or wrong API key" in answer.json()["detail"]
            assert client.post("/v1/sessions", json={}, headers={KEY_HEADER: KEY}).status_code == 201
            assert client.get("/v1/model", headers={KEY_HEADER: KEY}).status_code == 200
    finally:
        _stop(handle)


def test_the_command_refuses_another_address_without_a_key(tiny_model, capsys, monkeypatch):
    from cocodiff.cli import run_cli
    from serve.__main__ import main

    monkeypatch.delenv("COCODIFF_API_KEY", raising=False)
    assert run_cli(main, [str(tiny_model[1]), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--host 0.0.0.0 is not loopback" in err and "X-API-Key" in err and "\n" not in err


def _mutations(rng: np.random.Generator, value, depth: int = 0):
    """`value` with one part replaced by something of another type or shape (a seeded fuzzer)."""
    odd = [None, True, "x", -1, 0, 1e308, [], {}, [[]], [1, [2]], "NaN", 10 ** 40, {"a": [1]}]
    if depth > 4 or rng.random() < 0.25:
        return odd[rng.integers(len(odd))]
    if isinstance(value, dict) and value:
        key = list(value)[rng.integers(len(value))]
        return {**value, key: _mutations(rng, value[key], depth + 1)}
    if isinstance(value, list) and value:
        index = int(rng.integers(len(value)))
        return value[:index] + [_mutations(rng, value[index], depth + 1)] + value[index + 1:]
    return odd[rng.integers(len(odd))]


def test_fuzzed_requests_never_get_a_5xx(api, utd_clip):
    """300 seeded mutations of valid bodies on every route: each answer is 2xx or 4xx with a
    message, and the server is still ready at the end."""
    rng = np.random.default_rng(0)
    session = _session(api)
    clip = {"keypoint": utd_clip["keypoint"][:, :20].tolist(), "layout": "kinect20", "top_k": 3}
    frames = {"frames": [_frame(float(t)) for t in range(3)]}
    opening = {"layout": "kinect20", "frame": "kinect", "fps": 30}
    seen = set()
    for index in range(300):
        route, body = [("/v1/classify", clip), (f"/v1/sessions/{session}/frames", frames),
                       ("/v1/sessions", opening)][index % 3]
        answer = api.post(route, content=json.dumps(_mutations(rng, body), allow_nan=True).encode(),
                          headers={"content-type": "application/json"})
        seen.add(answer.status_code)
        assert answer.status_code < 500, (route, answer.text)
        if answer.status_code >= 400:
            assert answer.json()["detail"]
    assert api.get("/v2/health/ready").status_code == 200
    assert seen & {422, 404} and seen & {200, 201}  # the fuzzer reached both sides


def test_the_command_says_in_one_line_when_the_port_is_taken(tiny_model, capsys):
    from cocodiff.cli import run_cli
    from serve.__main__ import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert run_cli(main, [str(tiny_model[1]), "--port", str(taken.getsockname()[1])]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot listen on 127.0.0.1:" in err and "\n" not in err


def test_a_2d_model_hears_nobody_in_view(tmp_path):
    from serve.http.app import create_app
    from tiny_runs import layout_checkpoint

    backend = open_backend(layout_checkpoint(tmp_path / "coco.pt", "coco17"), device="cpu")
    url, handle = _serve(create_app(backend))
    try:
        with httpx.Client(base_url=url) as client:
            session = client.post("/v1/sessions", json={}).json()["session"]
            person = {"persons": [[[0.5, 0.5]] * 17], "scores": [[0.9] * 17]}
            for start, nobody in ((0.0, {"persons": []}), (1.0, {"persons": [], "scores": []})):
                frames = [{"timestamp": start, **person}, {"timestamp": start + 0.1, **nobody}]
                answer = client.post(f"/v1/sessions/{session}/frames", json={"frames": frames})
                assert answer.status_code == 200, answer.text
    finally:
        _stop(handle)


@pytest.mark.parametrize("flag, value", [("--port", "70000"), ("--max-sessions", "0"), ("--idle-timeout", "-1"),
                                         ("--max-body-mib", "0")])
def test_the_command_checks_its_ranges(tiny_model, capsys, flag, value):
    from cocodiff.cli import run_cli
    from serve.__main__ import main

    assert run_cli(main, [str(tiny_model[1]), flag, value]) == 2
    err = capsys.readouterr().err
    assert f"{flag} " in err and "is out of range" in err
