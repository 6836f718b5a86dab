"""`python -m cocodiff.text generate` against a real chat-completions server on 127.0.0.1.

The server answers each class with canned text built from the class name it finds in the prompt;
a test can queue other replies (errors, fenced or broken answers) and refuse chosen classes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from cocodiff.cli import run_cli
from cocodiff.method.text import generate
from cocodiff.method.text.corpus import FINE_PARTS, load_corpus
from cocodiff.method.text.generate import parse_answer
from cocodiff.text import main

KEY = "sk-test-not-a-real-key"
_CLASS = re.compile(r'the action class "(.+?)"')


def answer_for(name: str) -> dict[str, Any]:
    return {"description": f"The person does {name} with the whole body.",
            "paraphrases": [f"Someone is seen doing {name}.", f"A body carrying out {name}.",
                            f"The skeleton performs {name} once."],
            "fine": {part: f"The {part} move as needed for {name}." for part in FINE_PARTS}}


class FakeLLM:
    """What the server answers, and what it was asked."""

    def __init__(self) -> None:
        self.queued: list[tuple[int, str]] = []  # (status, message content or error text), used first
        self.refuse: set[str] = set()  # classes answered with HTTP 401
        self.requests: list[dict[str, Any]] = []
        self.stalls: list[float] = []  # seconds to wait before answering, one entry per request, used first

    def reply(self, request: dict[str, Any]) -> tuple[int, str]:
        name = _CLASS.search(request["body"]["messages"][0]["content"]).group(1)
        request["class"] = name
        if self.stalls:
            time.sleep(self.stalls.pop(0))
        if self.queued:
            return self.queued.pop(0)
        if name in self.refuse:
            return 401, "Incorrect API key provided"
        return 200, json.dumps(answer_for(name))


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = {"path": self.path, "headers": dict(self.headers), "body": body}
        self.server.llm.requests.append(request)
        status, text = self.server.llm.reply(request)
        payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]} \
            if status == 200 else {"error": {"message": text}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No endpoint settings or proxies from the machine running the tests; pauses recorded, not slept."""
    for name in ("COCODIFF_LLM_BASE_URL", "COCODIFF_LLM_API_KEY", "COCODIFF_LLM_MODEL", "OPENAI_BASE_URL",
                 "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    pauses: list[float] = []
    monkeypatch.setattr(generate, "_pause", pauses.append)
    return pauses


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.llm = FakeLLM()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    monkeypatch.setenv("COCODIFF_LLM_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setenv("COCODIFF_LLM_API_KEY", KEY)
    yield server.llm
    server.shutdown()
    server.server_close()


def classes_file(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "classes.txt"
    path.write_text("# my classes\n\n" + "\n".join(names) + "\n", encoding="utf-8")
    return path


def run(tmp_path: Path, *names: str, extra: tuple[str, ...] = ()) -> int:
    argv = ["generate", "--classes", str(classes_file(tmp_path, *names)), "--out", str(tmp_path / "text.json"),
            "--model", "test-model", *extra]
    return run_cli(main, argv)


def test_generate_end_to_end(tmp_path: Path, llm: FakeLLM) -> None:
    assert main(["generate", "--classes", str(classes_file(tmp_path, "wave hand", "sit down")),
                 "--out", str(tmp_path / "text.json"), "--model", "test-model", "--temperature", "0.2"]) == 0
    corpus = load_corpus(tmp_path / "text.json")  # strict: descriptions, paraphrases, generator meta
    assert corpus.names() == ["wave hand", "sit down"]
    assert corpus.classes[1].paraphrases == tuple(answer_for("sit down")["paraphrases"])
    assert corpus.generator["model"] == "test-model" and corpus.generator["prompt"] == "prompt_template.txt"
    assert corpus.generator["endpoint"] == os.environ["COCODIFF_LLM_BASE_URL"]
    assert corpus.generator["temperature"] == 0.2 and corpus.generator["date"]
    assert KEY not in (tmp_path / "text.json").read_text(encoding="utf-8")
    prompt = (tmp_path / "text.prompt.txt").read_text(encoding="utf-8")
    assert 'the action class "{name}"' in prompt and "{num_paraphrases}" not in prompt and "3 different" in prompt
    assert [r["class"] for r in llm.requests] == ["wave hand", "sit down"]
    first = llm.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["headers"]["Authorization"] == f"Bearer {KEY}"
    assert first["body"]["model"] == "test-model" and first["body"]["temperature"] == 0.2
    assert first["body"]["messages"][0]["role"] == "user"


def test_fenced_answer_is_accepted(tmp_path: Path, llm: FakeLLM) -> None:
    llm.queued.append((200, "Here it is:\n```json\n" + json.dumps(answer_for("clap")) + "\n```\n"))
    assert run(tmp_path, "clap") == 0
    assert load_corpus(tmp_path / "text.json").classes[0].description == answer_for("clap")["description"]
    assert len(llm.requests) == 1


def test_server_error_is_retried_after_a_pause(tmp_path: Path, llm: FakeLLM, clean_env: list[float]) -> None:
    llm.queued.append((500, "overloaded"))
    assert run(tmp_path, "clap") == 0
    assert len(llm.requests) == 2 and clean_env == [1.0]


def test_timeout_is_retried(tmp_path: Path, llm: FakeLLM, clean_env: list[float]) -> None:
    llm.stalls.append(0.5)
    assert run(tmp_path, "clap", extra=("--timeout", "0.1")) == 0
    assert len(llm.requests) == 2 and clean_env == [1.0]


def test_malformed_answer_is_retried(tmp_path: Path, llm: FakeLLM, clean_env: list[float]) -> None:
    broken = answer_for("clap")
    del broken["fine"]["feet"]
    llm.queued += [(200, "I cannot answer in JSON."), (200, json.dumps(broken))]
    assert run(tmp_path, "clap") == 0
    assert len(llm.requests) == 3 and clean_env == [1.0, 2.0]


def test_malformed_answers_until_out_of_retries(tmp_path: Path, llm: FakeLLM, capsys: pytest.CaptureFixture) -> None:
    llm.queued += [(200, "no")] * 2
    assert run(tmp_path, "clap", extra=("--retries", "1")) == 2
    line = _one_error_line(capsys)
    assert "'clap'" in line and "2 attempt(s)" in line and "test-model" in line


def test_refused_key_fails_at_once(tmp_path: Path, llm: FakeLLM, capsys: pytest.CaptureFixture,
                                   clean_env: list[float]) -> None:
    llm.refuse.add("clap")
    assert run(tmp_path, "clap") == 2
    line = _one_error_line(capsys)
    assert "HTTP 401" in line and "Incorrect API key" in line and "COCODIFF_LLM_API_KEY" in line
    assert len(llm.requests) == 1 and clean_env == []


def test_unreachable_endpoint_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture, clean_env: list[float]) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("COCODIFF_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    assert run(tmp_path, "clap", extra=("--retries", "2")) == 2
    line = _one_error_line(capsys)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in line and "3 attempt(s)" in line
    assert clean_env == [1.0, 2.0]
    assert not (tmp_path / "text.json").exists()


def test_rerun_resumes_where_it_stopped(tmp_path: Path, llm: FakeLLM) -> None:
    llm.refuse.add("c")
    assert run(tmp_path, "a", "b", "c", "d") == 2
    assert load_corpus(tmp_path / "text.json").names() == ["a", "b"]  # the work done so far is saved
    llm.refuse.clear()
    llm.requests.clear()
    assert run(tmp_path, "a", "b", "c", "d") == 0
    assert [r["class"] for r in llm.requests] == ["c", "d"]
    assert load_corpus(tmp_path / "text.json").names() == ["a", "b", "c", "d"]
    llm.requests.clear()
    assert run(tmp_path, "a", "b", "c", "d") == 0 and llm.requests == []


def test_resume_refuses_another_model(tmp_path: Path, llm: FakeLLM, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, "a") == 0
    argv = ["generate", "--classes", str(tmp_path / "classes.txt"), "--out", str(tmp_path / "text.json"),
            "--model", "other-model"]
    assert run_cli(main, argv) == 2
    assert "test-model" in _one_error_line(capsys) and len(llm.requests) == 1


def test_duplicate_class_is_refused(tmp_path: Path, llm: FakeLLM, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, "clap", "sit  down", "sit down") == 2
    line = _one_error_line(capsys)
    assert str(tmp_path / "classes.txt") in line and "line 5" in line and "line 4" in line
    assert llm.requests == []


def test_model_comes_from_the_environment(tmp_path: Path, llm: FakeLLM, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    argv = ["generate", "--classes", str(classes_file(tmp_path, "clap")), "--out", str(tmp_path / "t.json")]
    assert run_cli(main, argv) == 2 and "COCODIFF_LLM_MODEL" in _one_error_line(capsys)
    monkeypatch.setenv("COCODIFF_LLM_MODEL", "env-model")
    assert run_cli(main, argv) == 0 and llm.requests[0]["body"]["model"] == "env-model"


def test_parse_answer_extracts_the_object_and_checks_it() -> None:
    good = answer_for("clap")
    chatty = "Sure! " + json.dumps(good) + " Hope this helps."
    assert parse_answer(chatty, "clap", 3).fine["legs"] == good["fine"]["legs"]
    assert len(parse_answer(json.dumps({**good, "paraphrases": good["paraphrases"] * 2}), "clap", 3).paraphrases) == 3
    for bad in ({**good, "paraphrases": good["paraphrases"][:2]}, {**good, "fine": {**good["fine"], "tail": "x"}},
                {**good, "paraphrases": [good["description"], "b", "c"]}, {**good, "description": ""}):
        with pytest.raises(generate._Passing):
            parse_answer(json.dumps(bad), "clap", 3)


def test_recorded_endpoint_drops_credentials() -> None:
    endpoint = generate.Endpoint("https://user:secret@llm.example.org:8443/v1?key=secret", "k")
    assert endpoint.public_url == "https://llm.example.org:8443/v1"
    assert endpoint.url == "https://user:secret@llm.example.org:8443/v1/chat/completions?key=secret"
    assert endpoint.shown_url == "https://llm.example.org:8443/v1/chat/completions"


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert "Traceback" not in errors[0]
    return errors[0]
