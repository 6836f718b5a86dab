"""Evaluation and score fusion: the metrics, the files written, the CLIs and their one-line errors.

The checkpoint is built here (a tiny untrained CTR-GCN saved with `save_checkpoint`), so these
tests do not depend on training.
"""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from cocodiff.checkpoint import build_model, load_checkpoint, save_checkpoint
from cocodiff.cli import run_cli
from cocodiff.data.annotations import save_annotations
from cocodiff.data.embedded import CLASSES, EmbeddedConfig, embedded_clip
from cocodiff.data.pipelines import InferencePipeline
from cocodiff.data.splits import evenly_spread
from cocodiff.errors import CocodiffError
from cocodiff.evaluate import main as evaluate_main
from cocodiff.fuse import main as fuse_main
from cocodiff.scoring import Scores, confusion_matrix, fuse, load_scores, save_scores, summarize, accuracy_lines

from tiny_runs import untrained_checkpoint

FILES = ["confusion.png", "metrics.json", "scores.npz"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return untrained_checkpoint(tmp_path_factory.mktemp("run") / "best.pt")


@pytest.fixture(scope="module")
def val_clips():
    """Two embedded val clips per class, renamed so they are clearly this file's own."""
    clips = []
    for label in range(len(CLASSES)):
        for index in (0, 1):
            sample = dict(embedded_clip(EmbeddedConfig(), "val", label, index).sample)
            sample["frame_dir"] = f"clip{label:02d}_{index}"
            clips.append(sample)
    return clips


def write_data(path, samples, split="test", **meta):
    names = [s["frame_dir"] for s in samples]
    save_annotations({"split": {split: names, "other": names[:1]}, "annotations": samples, "meta": meta}, path)
    return path


def random_clips(count, joints=25, channels=3, label=0):
    rng = np.random.default_rng(count)
    return [{"frame_dir": f"r{i}", "label": label, "total_frames": 10,
             "keypoint": rng.normal(size=(1, 10, joints, channels)).astype(np.float32)} for i in range(count)]


# ---- scoring -------------------------------------------------------------------------------------
def test_topk_per_class_and_confusion_on_known_logits():
    logits = np.array([[3, 2, 1, 0, 0, 0], [0, 1, 2, 3, 4, 5], [1, 0, 0, 0, 0, 0], [0, 5, 0, 0, 0, 0]], np.float32)
    labels = np.array([0, 0, 2, 1])
    metrics = summarize(logits, labels, list("abcdef"))
    assert metrics["top1"] == pytest.approx(50.0)  # clips 0 and 3
    assert metrics["top5"] == pytest.approx(75.0)  # clip 1's label 0 ranks 6th; clip 2's ties keep index order
    assert metrics["top5_k"] == 5 and metrics["N"] == 4
    per_class = {entry["name"]: entry for entry in metrics["per_class"]}
    assert (per_class["a"]["count"], per_class["a"]["correct"], per_class["a"]["accuracy"]) == (2, 1, 50.0)
    assert per_class["c"]["accuracy"] == 0.0 and per_class["d"]["accuracy"] is None
    assert metrics["mean_class_accuracy"] == pytest.approx((50 + 100 + 0) / 3)
    matrix = confusion_matrix(labels, [0, 5, 0, 1], 6)
    assert matrix[0, 0] == 1 and matrix[0, 5] == 1 and matrix[2, 0] == 1 and matrix[1, 1] == 1 and matrix.sum() == 4


def test_fewer_than_five_classes_report_top_k():
    metrics = summarize(np.eye(3, dtype=np.float32), np.array([0, 2, 2]), ["x", "y", "z"])
    assert metrics["top5_k"] == 3 and metrics["top5"] == 100.0
    assert metrics["top1"] == pytest.approx(200 / 3)
    text = accuracy_lines(metrics)
    assert "top-3 100.00% (only 3 classes)" in text[0]
    assert text[1].startswith("worst classes: z 50.0% (1/2); x 100.0% (1/1)")  # y has no clip: not listed


def test_fuse_weights_logits_or_softmax():
    a, b = np.array([[2.0, 0.0]], np.float32), np.array([[0.0, 4.0]], np.float32)
    assert np.allclose(fuse([a, b], [0.6, 0.4]), [[1.2, 1.6]])
    probabilities = fuse([a, b], [0.5, 0.5], "softmax")
    assert np.allclose(probabilities.sum(), 1.0) and probabilities[0, 1] > probabilities[0, 0]


def test_evenly_spread():
    assert evenly_spread(5, None) == [0, 1, 2, 3, 4] and evenly_spread(5, 9) == [0, 1, 2, 3, 4]
    assert evenly_spread(192, 12) == list(range(0, 192, 16))
    picks = evenly_spread(10, 4)
    assert len(set(picks)) == 4 and picks[0] == 0 and picks[-1] < 10


# ---- evaluate --------------------------------------------------------------------------------------
def test_evaluate_a_file(checkpoint, val_clips, tmp_path, capsys):
    data = write_data(tmp_path / "mine.pkl", val_clips, layout="ntu25", classes=list(CLASSES))
    out = tmp_path / "out"
    assert evaluate_main([str(checkpoint), "--data", str(data), "--split", "test", "--out", str(out),
                          "--batch-size", "5", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == FILES  # no temporary file left behind

    scores = load_scores(out / "scores.npz")
    assert scores.logits.dtype == np.float32 and scores.logits.shape == (2 * len(CLASSES), len(CLASSES))
    assert list(scores.frame_dir) == [s["frame_dir"] for s in val_clips]
    assert list(scores.labels) == [s["label"] for s in val_clips] and list(scores.classes) == list(CLASSES)
    assert scores.split == "test"

    # The logits are the model's on the checkpoint's own evaluation preprocessing.
    content = load_checkpoint(checkpoint)
    pipeline = InferencePipeline(content["contract"])
    with torch.no_grad():
        expected = build_model(content)(torch.from_numpy(np.stack([pipeline(s) for s in val_clips]))).numpy()
    assert np.allclose(scores.logits, expected, atol=1e-4)

    # The metrics, recomputed here from the saved scores without cocodiff.scoring.
    metrics = json.loads((out / "metrics.json").read_text())
    order = np.argsort(-scores.logits, axis=1)
    hit1 = order[:, 0] == scores.labels
    hit5 = (order[:, :5] == scores.labels[:, None]).any(axis=1)
    assert metrics["top1"] == pytest.approx(100 * hit1.mean()) and metrics["top5"] == pytest.approx(100 * hit5.mean())
    for entry in metrics["per_class"]:
        mine = scores.labels == entry["index"]
        assert entry["name"] == CLASSES[entry["index"]] and entry["count"] == mine.sum() == 2
        assert entry["accuracy"] == pytest.approx(100 * hit1[mine].mean())
    assert metrics["N"] == 2 * len(CLASSES) and metrics["split"] == "test" and metrics["data"] == str(data.resolve())
    assert metrics["checkpoint"] == str(checkpoint.resolve())
    assert metrics["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()

    with Image.open(out / "confusion.png") as image:
        assert image.format == "PNG" and min(image.size) >= 500
        image.verify()
    assert f"top-1 {metrics['top1']:.2f}%" in printed and "worst classes:" in printed
    assert printed.count("% (") >= 5  # five worst classes, each "name acc% (correct/count)"


def test_defaults_take_the_embedded_val_split_of_the_checkpoint(checkpoint, capsys):
    assert evaluate_main([str(checkpoint), "--limit", str(len(CLASSES)), "--device", "cpu"]) == 0
    out = checkpoint.parent / "eval_val"
    assert sorted(p.name for p in out.iterdir()) == FILES
    scores = load_scores(out / "scores.npz")
    assert list(scores.labels) == list(range(len(CLASSES)))  # one clip per class, spread over the split
    assert scores.frame_dir[3] == embedded_clip(EmbeddedConfig(), "val", 3, 0).sample["frame_dir"]
    metrics = json.loads((out / "metrics.json").read_text())
    k = len(CLASSES)
    assert (metrics["data"], metrics["split"], metrics["limit"], metrics["N"]) == ("embedded", "val", k, k)
    assert f"embedded dataset, split val: {len(CLASSES)} clips" in capsys.readouterr().out


def test_in_process_refusals(checkpoint, tmp_path, capsys):
    flat = write_data(tmp_path / "flat.pkl", random_clips(3, channels=2), layout="ntu25")
    far = write_data(tmp_path / "far.pkl", random_clips(2, label=len(CLASSES)), layout="ntu25")
    bare = tmp_path / "bare.pt"
    content = load_checkpoint(checkpoint)
    save_checkpoint(bare, model=content["model"], contract=content["contract"], config={})
    on = [str(checkpoint), "--split", "test", "--data"]
    cases = [(on + [str(flat)], "2 coordinates per joint, the model expects 3"),
             (on + [str(far)], f"label {len(CLASSES)} is beyond the model's {len(CLASSES)} classes"),
             ([str(bare)], "carries no training config"),
             ([str(checkpoint), "--limit", "0"], "at least 1"),
             ([str(checkpoint), "--limit", "1", "--out", str(flat)], "exists and is not a directory")]
    for argv, message in cases:
        assert run_cli(evaluate_main, argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


# ---- fuse ------------------------------------------------------------------------------------------
A = np.array([[2, 1, 0], [0, 1, 3], [1, 0, 0], [0, 0, 1]], np.float32)
B = np.array([[0, 3, 0], [0, 2, 0], [0, 0, 2], [3, 0, 0]], np.float32)
LABELS = np.array([0, 1, 2, 0])
NAMES = np.array(["s0", "s1", "s2", "s3"])


def score_file(path, logits, names=NAMES, labels=LABELS, classes=("p", "q", "r")):
    save_scores(path, Scores(logits, labels, names, np.array(classes), "val"))
    return path


def test_fuse_two_streams_gives_the_hand_computed_accuracy(tmp_path, capsys):
    a, b = score_file(tmp_path / "a.npz", A), score_file(tmp_path / "b.npz", B)
    # 0.6 A + 0.4 B = [[1.2, 1.8, 0], [0, 1.4, 1.8], [0.6, 0, 0.8], [1.2, 0, 0.6]]: argmax 1, 2, 2, 0,
    # so s2 and s3 are right (50%); A alone gets s0 (25%), B alone s1, s2, s3 (75%).
    assert fuse_main([str(a), str(b), "--weights", "0.6", "0.4", "--out", str(tmp_path / "f")]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert metrics["top1"] == pytest.approx(50.0) and metrics["top5"] == 100.0 and metrics["top5_k"] == 3
    assert [s["top1"] for s in metrics["fused"]] == pytest.approx([25.0, 75.0])
    assert [s["weight"] for s in metrics["fused"]] == [0.6, 0.4]
    fused = load_scores(tmp_path / "f" / "scores.npz")
    assert np.allclose(fused.logits, 0.6 * A + 0.4 * B) and list(fused.frame_dir) == list(NAMES)
    assert "top-1 25.00%" in printed and "top-1 75.00%" in printed and "top-1 50.00%" in printed
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == FILES


def test_fuse_default_out_and_weights(tmp_path):
    a = score_file(tmp_path / "joint" / "eval_val" / "scores.npz", A)
    b = score_file(tmp_path / "bone" / "eval_val" / "scores.npz", B)
    assert fuse_main([str(a), str(b)]) == 0  # equal weights: A + B = [[2,4,0],[0,3,3],[1,0,2],[3,0,1]]
    metrics = json.loads((tmp_path / "fused_val" / "metrics.json").read_text())
    assert metrics["top1"] == pytest.approx(75.0)  # s1's tie goes to the lower index, its label


# ---- every bad input: exit 2 and one line on stderr, through the real command line ----------------
def run_module(module, *args, cwd=None):
    done = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, val_clips):
    folder = tmp_path_factory.mktemp("bad")
    corrupt = folder / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    clips = val_clips[:2]
    return {
        "corrupt": corrupt,
        "layout": write_data(folder / "coco.pkl", random_clips(2, joints=17), layout="coco17"),
        "joints": write_data(folder / "pyskl.pkl", random_clips(2, joints=17)),  # no meta, as PYSKL writes
        "good": write_data(folder / "good.pkl", clips, layout="ntu25"),
        "classes": write_data(folder / "five.pkl", clips, layout="ntu25", classes=list(CLASSES[:5])),
        "frame": write_data(folder / "image.pkl", random_clips(2, channels=2), layout="ntu25",
                            frame={"x": "right", "y": "down", "z": None, "units": "normalised", "origin": "corner"}),
        "a": score_file(folder / "a.npz", A),
        "shuffled": score_file(folder / "b.npz", B, names=NAMES[[1, 0, 2, 3]]),
        "relabelled": score_file(folder / "c.npz", B, labels=np.array([0, 1, 2, 1])),
    }


@pytest.mark.parametrize("content", [b"hi\n", b"\x80\x02}q\x00", b"PK\x03\x04junk"])
def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(content, tmp_path):
    """Bytes the weights-only unpickler chokes on in odd ways (a memo key it never stored...)."""
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(CocodiffError, match="model.pt: not a cocodiff checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("case, message", [
    ("missing checkpoint", "no such checkpoint"),
    ("corrupt checkpoint", "not a cocodiff checkpoint or corrupt"),
    ("layout mismatch", "holds layout 'coco17', the model was trained on 'ntu25', and no retargeting"),
    ("joint count mismatch", "17 joints per frame, but layout 'ntu25' has 25"),
    ("unknown split", "no split 'xsub_val'; the file has test, other"),
    ("unknown embedded split", "no split 'test'; it has train, val"),
    ("class count mismatch", f"names 5 classes, the model has {len(CLASSES)}"),
    ("frame mismatch", "holds 2D clips (x right, y down"),
])
def test_evaluate_refuses_bad_input(case, message, checkpoint, bad_inputs, tmp_path):
    argv = {
        "missing checkpoint": [tmp_path / "nope.pt"],
        "corrupt checkpoint": [bad_inputs["corrupt"]],
        "layout mismatch": [checkpoint, "--data", bad_inputs["layout"], "--split", "test"],
        "joint count mismatch": [checkpoint, "--data", bad_inputs["joints"], "--split", "test"],
        "unknown split": [checkpoint, "--data", bad_inputs["good"], "--split", "xsub_val"],
        "unknown embedded split": [checkpoint, "--data", "embedded", "--split", "test"],
        "class count mismatch": [checkpoint, "--data", bad_inputs["classes"], "--split", "test"],
        "frame mismatch": [checkpoint, "--data", bad_inputs["frame"], "--split", "test"],
    }[case]
    code, err = run_module("cocodiff.evaluate", *argv, "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, message", [
    ("another order", "b.npz does not match"),
    ("other labels", "c.npz does not match"),
    ("weights count", "2 scores files but 3 weights"),
    ("not a scores file", "not a readable scores file"),
])
def test_fuse_refuses_bad_input(case, message, bad_inputs, tmp_path):
    a = bad_inputs["a"]
    argv = {
        "another order": [a, bad_inputs["shuffled"]],
        "other labels": [a, bad_inputs["relabelled"]],
        "weights count": [a, a, "--weights", "1", "1", "1"],
        "not a scores file": [a, bad_inputs["corrupt"]],
    }[case]
    code, err = run_module("cocodiff.fuse", *argv, "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and message in err, err
    if case in ("another order", "other labels"):
        assert str(a) in err  # names both files
    assert not (tmp_path / "out").exists()


# ---- another dataset: retargeting and a class map --------------------------------------------------
def kinect20_clips(val_clips):
    """The embedded val clips as a Kinect v1 would record them (kinect20), under other class names."""
    from cocodiff.data.retarget import retarget

    clips = []
    for sample in val_clips:
        clip = retarget(sample, "ntu25", "kinect20")
        clip["label"] = {CLASSES.index("squat"): 0, CLASSES.index("bow"): 1}.get(sample["label"], 2)
        clips.append(clip)
    return clips


def test_evaluate_retargets_and_maps_classes(checkpoint, val_clips, tmp_path, capsys):
    data = write_data(tmp_path / "v1.pkl", kinect20_clips(val_clips), layout="kinect20",
                      classes=["deep squat", "bowing", "unmapped"], fps=30.0)
    class_map = tmp_path / "map.txt"
    class_map.write_text("# ours -> the model's\ndeep squat -> squat\n\nbowing   ->  bow\n")
    assert evaluate_main([str(checkpoint), "--data", str(data), "--split", "test", "--class-map", str(class_map),
                          "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "retargeting the clips from layout kinect20" in out and "deep squat -> squat:" in out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["N"] == 4 and metrics["retargeted_from"] == "kinect20"  # 2 squats + 2 bows; the rest unmapped
    assert [(e["name"], e["model_class"], e["count"]) for e in metrics["per_source_class"]] == \
        [("deep squat", "squat", 2), ("bowing", "bow", 2)]
    counted = {e["name"]: e["count"] for e in metrics["per_class"] if e["count"]}
    assert counted == {"squat": 2, "bow": 2}
    # The logits are the model's on the retargeted clips, through its own pipeline.
    content = load_checkpoint(checkpoint)
    model = build_model(content)
    from cocodiff.data.pipelines import SkeletonSource
    from cocodiff.data.frames import KINECT

    pipeline = InferencePipeline(content["contract"], SkeletonSource("kinect20", KINECT))
    squats = [c for c in kinect20_clips(val_clips) if c["label"] == 0]
    with torch.no_grad():
        expected = model(torch.from_numpy(np.stack([pipeline(c) for c in squats]))).numpy()
    # batched differently from evaluate, so equal to float32 rounding only (logits here run to hundreds)
    np.testing.assert_allclose(load_scores(tmp_path / "out" / "scores.npz").logits[:2], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("lines, message", [
    ("squat\n", "line 1: expected 'data class -> model class'"),
    ("deep squat -> squats\n", "'squats' is not a model class"),
    ("deep squatting -> squat\n", "'deep squatting' is not a data class"),
    ("deep squat -> squat\ndeep squat -> bow\n", "'deep squat' is mapped more than once"),
    ("# nothing\n", "holds no 'data class -> model class' line"),
])
def test_bad_class_maps_are_one_line(lines, message, checkpoint, val_clips, tmp_path):
    data = write_data(tmp_path / "v1.pkl", kinect20_clips(val_clips), layout="kinect20",
                      classes=["deep squat", "bowing", "unmapped"])
    class_map = tmp_path / "map.txt"
    class_map.write_text(lines)
    code, err = run_module("cocodiff.evaluate", checkpoint, "--data", data, "--split", "test", "--class-map", class_map,
                           "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and "map.txt" in err and message in err, err
