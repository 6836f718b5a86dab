"""`python -m cocodiff.train` end to end on a tiny config: outputs, checkpoint contract, --resume
equality, 2-process (gloo) equality, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cocodiff.checkpoint import build_model, load_checkpoint
from cocodiff.config import load_config
from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations
from cocodiff.contract import DeploymentContract
from cocodiff.data.frames import KINECT
from cocodiff.data.pipelines import InferencePipeline
from cocodiff.training.metrics import read_metrics
from cocodiff.training.schedule import learning_rate

from tiny_runs import free_port, one_line_error, strip_timing, tiny, train

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_learning_rate_warms_up_then_steps_down():
    optim = load_config(overrides=["optim.lr=0.1", "optim.warmup_epochs=2", "optim.milestones=[3, 5]"]).optim
    rates = [learning_rate(step, 10, optim) for step in range(70)]
    assert rates[0] == pytest.approx(0.005) and rates[19] == pytest.approx(0.1)  # linear over 20 steps
    assert all(a < b for a, b in zip(rates[:20], rates[1:20]))
    assert rates[20] == rates[29] == pytest.approx(0.1)
    assert rates[30] == pytest.approx(0.01) and rates[49] == pytest.approx(0.01)
    assert rates[50] == pytest.approx(0.001) and rates[69] == pytest.approx(0.001)


def test_tiny_run_end_to_end(tiny_data, tmp_path, capsys):
    code, out, err = train(tiny(tiny_data, tmp_path, "run"), capsys)
    assert code == 0, err
    run = tmp_path / "run"
    assert {"config.yaml", "metrics.jsonl", "last.pt", "best.pt"} <= {p.name for p in run.iterdir()}
    assert list((run / "tb").glob("events.out.tfevents.*")), "no TensorBoard event file"
    lines = read_metrics(run / "metrics.jsonl")
    assert [line["epoch"] for line in lines] == [1, 2] and lines[-1]["step"] == 8  # 36 clips, batches of 8
    assert {"train_loss", "train_top1", "val_top1", "val_top5", "lr", "epoch_time_s", "samples_per_s"} <= set(lines[-1])
    assert "val accuracy (val): top-1" in out and f"checkpoint: {run / 'best.pt'}" in out
    assert f"python -m cocodiff.evaluate {run / 'best.pt'} --data {tiny_data} --split val" in out

    # The checkpoint loads without running code and rebuilds the model and its preprocessing from
    # deployment contract alone: evaluating last.pt that way reproduces the last epoch's validation.
    raw = torch.load(run / "last.pt", weights_only=True)
    contract = DeploymentContract.from_dict(raw["contract"])
    assert contract.layout == "ntu25" and contract.window == 16 and contract.num_persons == 1
    assert contract.classes[0] == "wave right hand" and len(contract.classes) == 18
    assert contract.pre_normalize is True and contract.eval_crop_ratio == 0.95 and contract.modality == "joint"
    assert contract.frame == KINECT and contract.fps == 30.0 and contract.person_order == "recorded"
    content = embedded_annotations(EmbeddedConfig(train_per_class=2, test_per_class=1))
    train_names = set(content["split"]["train"])
    durations = [s["total_frames"] for s in content["annotations"] if s["frame_dir"] in train_names]
    assert contract.clip_seconds == pytest.approx(np.median(durations) / 30.0, abs=1e-3)
    assert raw["config"]["model"]["base_channels"] == 8 and raw["train_state"]["step"] == 8
    model = build_model(load_checkpoint(run / "last.pt"))
    names = set(content["split"]["val"])
    val = [s for s in content["annotations"] if s["frame_dir"] in names]
    pipeline = InferencePipeline(contract)
    x = torch.from_numpy(np.stack([pipeline(s) for s in val]))
    y = torch.tensor([s["label"] for s in val])
    with torch.no_grad():
        logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y).item()
    assert 100.0 * (logits.argmax(1) == y).float().mean().item() == pytest.approx(lines[-1]["val_top1"])
    assert loss == pytest.approx(lines[-1]["val_loss"], rel=1e-4)
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["contract"] == raw["contract"] and "optimizer" not in best["train_state"]

    # A finished run resumed does nothing more; the same run started again is refused.
    code, out, _ = train(["--resume", str(run)], capsys)
    assert code == 0 and "nothing left to train" in out
    code, _, err = train(tiny(tiny_data, tmp_path, "run"), capsys)
    assert code == 2 and "already holds a run: add --resume" in err


def test_bf16_autocast_on_cpu(tiny_data, tmp_path, capsys):
    code, out, err = train(tiny(tiny_data, tmp_path, "bf16", "precision=bf16", "optim.epochs=1"), capsys)
    assert code == 0, err
    line = read_metrics(tmp_path / "bf16" / "metrics.jsonl")[0]
    assert np.isfinite(line["train_loss"]) and np.isfinite(line["val_loss"])
    weights = torch.load(tmp_path / "bf16" / "best.pt", weights_only=True)["model"]
    assert weights["classifier.fc.weight"].dtype == torch.float32  # autocast keeps fp32 master weights


def test_resume_after_a_kill_mid_epoch_matches_an_uninterrupted_run(tiny_data, tmp_path, capsys):
    extra = ("save_every_steps=2", "data.rotate=0.2")
    assert train(tiny(tiny_data, tmp_path, "whole", *extra), capsys)[0] == 0
    # Killed after step 7 (epoch 2, batch 3 of 4): the last save was at step 6, so step 7 is redone.
    code, out, _ = train(tiny(tiny_data, tmp_path, "killed", *extra, "stop_after_steps=7"), capsys)
    assert code == 0 and "stopped after step 7" in out
    killed = tmp_path / "killed"
    state = torch.load(killed / "last.pt", weights_only=True)["train_state"]
    assert (state["epoch"], state["batch"], state["step"]) == (1, 2, 6)
    code, out, err = train(["--resume", str(killed), "stop_after_steps=0"], capsys)
    assert code == 0, err
    assert "resuming at epoch 2, batch 3" in out

    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    resumed = torch.load(killed / "last.pt", weights_only=True)
    assert whole["model"].keys() == resumed["model"].keys()
    for key, value in whole["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    momentum = [s["momentum_buffer"] for s in whole["train_state"]["optimizer"]["state"].values()]
    momentum_resumed = [s["momentum_buffer"] for s in resumed["train_state"]["optimizer"]["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(momentum, momentum_resumed))
    assert strip_timing(read_metrics(tmp_path / "whole" / "metrics.jsonl")) == \
        strip_timing(read_metrics(killed / "metrics.jsonl"))


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tiny_data, tmp_path, capsys):
    """torchrun with 2 CPU processes (gloo) trains the same model as 1 process with the same global
    batch. Compared in fp64: the distributed code (sharding, gradient averaging, pooled batch norm)
    is exact, but in fp32 this tiny model amplifies rounding chaotically (max-pool ties, batch norm
    over 4 clips): the first loss agrees to 1e-6, the weights after 3 steps only to about 1e-2."""
    args = tiny(tiny_data, tmp_path, "one", "optim.epochs=1", "optim.warmup_epochs=0", "optim.milestones=[]",
                "device=cpu", "precision=fp64")  # one epoch of 3 steps, global batch 8: 4 clips per process
    assert train(args, capsys)[0] == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "cocodiff.train",
               *[a.replace("name=one", "name=two") for a in args]]
    result = subprocess.run(command, env={**ENV, "GLOO_SOCKET_IFNAME": "lo"}, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes" in result.stdout and result.stdout.count("val accuracy") == 1  # rank 0 alone prints
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    two = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["model"]
    assert one.keys() == two.keys()  # pooled batch norm leaves the plain model's state dict
    for key, value in one.items():
        assert value.dtype == two[key].dtype
        if value.is_floating_point():
            assert torch.allclose(value, two[key], rtol=0, atol=1e-7), key
        else:
            assert torch.equal(value, two[key]), key
    m1, m2 = read_metrics(tmp_path / "one" / "metrics.jsonl"), read_metrics(tmp_path / "two" / "metrics.jsonl")
    for key in ("train_loss", "val_loss", "train_top1", "val_top1", "val_top5"):
        assert m1[0][key] == pytest.approx(m2[0][key], rel=1e-9), key


@pytest.mark.parametrize("argv, expected", [
    (["data.dataset=/no/such/file.pkl"], "/no/such/file.pkl: no such file"),
    (["data.layout=kinect20"], "holds layout 'ntu25' but the config asks for data.layout='kinect20'"),
    (["optim.lrr=0.1"], "unknown key(s) optim.lrr; valid keys: optim.epochs"),
    (["optim.batch_size=64"], "fewer than one batch"),
    (["precision=fp16", "device=cpu"], "precision=fp16 needs a CUDA device"),
])
def test_bad_input_is_one_line(tiny_data, tmp_path, capsys, argv, expected):
    base = [a for a in tiny(tiny_data, tmp_path, "bad") if not a.startswith(tuple(x.split("=")[0] + "=" for x in argv))]
    code, _, err = train(base + argv, capsys)
    one_line_error(code, err, expected)


def test_bad_files_and_resume_are_one_line(tiny_data, tmp_path, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("optim: [1,\n")
    one_line_error(*train(["--config", str(bad_yaml)], capsys)[::2], "not valid YAML")
    one_line_error(*train(["--resume", str(tmp_path / "nowhere")], capsys)[::2], "no such run directory")
    (tmp_path / "empty").mkdir()
    one_line_error(*train(["--resume", str(tmp_path / "empty")], capsys)[::2], "nothing to resume")
    one_line_error(*train(tiny(tiny_data, tmp_path, "none") + ["--resume"], capsys)[::2], "nothing to resume")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    one_line_error(*train(["--resume", str(tmp_path / "corrupt")], capsys)[::2], "not a cocodiff checkpoint or corrupt")


def test_real_entry_point_exit_code_and_no_traceback(tmp_path):
    for argv, expected in ([["optim.lrr=1"], "unknown key(s) optim.lrr"],
                           [["--resume", str(tmp_path / "corrupt")], "corrupt"]):
        if "--resume" in argv:
            (tmp_path / "corrupt").mkdir()
            (tmp_path / "corrupt" / "last.pt").write_bytes(os.urandom(64))
        result = subprocess.run([sys.executable, "-m", "cocodiff.train", *argv], env=ENV, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        one_line_error(result.returncode, result.stderr, expected)


def test_busy_cores_counts_other_runnable_tasks(tmp_path):
    from cocodiff.device import busy_cores

    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.31 1.43 1.50 3/79 24034\n")  # a lagging average of 1.3, but 2 others run now
    assert busy_cores(str(loadavg)) == 2.0
    loadavg.write_text("1.31 1.43 1.50 1/79 24034\n")  # only ourselves: the cores are free
    assert busy_cores(str(loadavg)) == 0.0
    loadavg.write_text("garbage")
    assert busy_cores(str(loadavg)) >= 0.0  # falls back to the load average
