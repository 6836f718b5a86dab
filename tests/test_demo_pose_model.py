"""The pose model file: a given path, the cache, a checked download from a real HTTP server, and
one-line errors for a file that is missing, not a bundle, or corrupt."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from cocodiff.errors import CocodiffError
from demo.pose_model import MODEL_NAME, MODEL_SHA256, check_pose_model, fetch_pose_model, pose_model_path


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("COCODIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COCODIFF_POSE_MODEL", raising=False)
    return tmp_path / "cache"


@pytest.fixture()
def file_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_shared_model_is_the_official_one(shared_data):
    import hashlib

    path = shared_data / "models" / MODEL_NAME
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256
    assert check_pose_model(path) == path


def test_a_given_path_is_used_and_checked(shared_data, cache, tmp_path):
    path = shared_data / "models" / MODEL_NAME
    assert pose_model_path(path) == path
    with pytest.raises(CocodiffError, match=r"missing\.task: pose model file not found"):
        pose_model_path(tmp_path / "missing.task")
    text = tmp_path / "notes.task"
    text.write_text("not a model")
    with pytest.raises(CocodiffError, match=r"notes\.task: not a MediaPipe \.task model bundle"):
        pose_model_path(text)


def test_a_truncated_or_empty_bundle_is_refused(shared_data, tmp_path):
    truncated = tmp_path / "truncated.task"
    truncated.write_bytes((shared_data / "models" / MODEL_NAME).read_bytes()[:200_000])
    with pytest.raises(CocodiffError, match="truncated.task: not a MediaPipe"):
        check_pose_model(truncated)
    empty = tmp_path / "empty.task"
    with zipfile.ZipFile(empty, "w") as bundle:
        bundle.writestr("readme.txt", "hello")
    with pytest.raises(CocodiffError, match="corrupt MediaPipe .task model bundle .no TFLite model inside"):
        check_pose_model(empty)


def test_the_environment_variable_names_the_file(shared_data, cache, monkeypatch):
    monkeypatch.setenv("COCODIFF_POSE_MODEL", str(shared_data / "models" / MODEL_NAME))
    assert pose_model_path() == shared_data / "models" / MODEL_NAME


def test_without_network_one_line_says_where_to_put_the_file(cache, monkeypatch):
    monkeypatch.setattr("demo.pose_model.MODEL_URL", "http://127.0.0.1:9/pose_landmarker_full.task")
    with pytest.raises(CocodiffError) as caught:
        pose_model_path(download=False)
    assert str(cache / MODEL_NAME) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(CocodiffError, match="could not download"):
        fetch_pose_model(cache / MODEL_NAME, "http://127.0.0.1:9/pose_landmarker_full.task")
    assert not (cache / MODEL_NAME).exists()


def test_a_download_is_checked_then_cached(shared_data, cache, file_server, monkeypatch):
    root, url = file_server
    (root / MODEL_NAME).write_bytes((shared_data / "models" / MODEL_NAME).read_bytes())
    monkeypatch.setattr("demo.pose_model.MODEL_URL", f"{url}/{MODEL_NAME}")
    path = pose_model_path()
    assert path == cache / MODEL_NAME and check_pose_model(path) == path
    (root / MODEL_NAME).unlink()  # the second call uses the cache
    assert pose_model_path() == path


def test_a_download_with_the_wrong_digest_leaves_nothing(cache, file_server, monkeypatch):
    root, url = file_server
    (root / MODEL_NAME).write_bytes(b"something else entirely")
    monkeypatch.setattr("demo.pose_model.MODEL_URL", f"{url}/{MODEL_NAME}")
    with pytest.raises(CocodiffError, match="has SHA-256 .*, not the official model.s"):
        pose_model_path()
    assert not cache.exists() or not any(cache.iterdir())
