"""`python -m demo`, `demo.record` and `demo.replay` on the console: one line and exit code 2 for
every bad start (no model, a file that is no model, a pose model missing or corrupt, another
address without a key), and a real clip recorded and replayed."""

from __future__ import annotations

import pytest

from cocodiff.cli import run_cli
from demo.__main__ import main as demo_main
from demo.record import main as record_main
from demo.replay import main as replay_main
from serve.network import is_loopback


def _fails(main, argv, capsys) -> str:
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_without_a_trained_model_it_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = _fails(demo_main, [], capsys)
    assert "runs/embedded/best.pt" in err and "python -m cocodiff.train" in err


def test_a_file_that_is_no_model_is_one_line(tmp_path, capsys, tiny_data, pose_model_file):
    err = _fails(demo_main, ["--model", str(tiny_data), "--pose-model", str(pose_model_file)], capsys)
    assert str(tiny_data) in err


def test_a_missing_or_corrupt_pose_model_is_one_line(tmp_path, capsys, tiny_model, pose_model_file):
    err = _fails(demo_main, ["--model", str(tiny_model[1]), "--pose-model", str(tmp_path / "gone.task")], capsys)
    assert "gone.task: pose model file not found" in err
    broken = tmp_path / "broken.task"
    broken.write_bytes(pose_model_file.read_bytes()[:100_000])
    err = _fails(demo_main, ["--model", str(tiny_model[1]), "--pose-model", str(broken)], capsys)
    assert "broken.task: not a MediaPipe .task model bundle" in err


def test_another_address_needs_a_key(capsys, monkeypatch):
    monkeypatch.delenv("COCODIFF_DEMO_KEY", raising=False)
    err = _fails(demo_main, ["--host", "0.0.0.0"], capsys)
    assert "not loopback" in err and "--key" in err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_a_3d_model_refuses_a_recording_of_image_landmarks_only(capsys, tiny_model, videos_dir):
    err = _fails(replay_main, [str(videos_dir / "correct10.mediapipe.json"), "--model", str(tiny_model[1])], capsys)
    assert "image landmarks only" in err and "demo.record" in err


@pytest.mark.slow
def test_a_real_clip_recorded_then_replayed(tmp_path, capsys, tiny_model, pose_model_file, videos_dir):
    out = tmp_path / "pushup.json"
    assert run_cli(record_main, [str(videos_dir / "correct10.mp4"), "--out", str(out), "--pose-model",
                                 str(pose_model_file), "--num-poses", "1"]) == 0
    assert "45 frames at 25 fps" in capsys.readouterr().out
    assert run_cli(replay_main, [str(out), "--model", str(tiny_model[1])]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[1:] == ["warming", "up"] and lines[-1].startswith("end (1.76s): #0 ")
