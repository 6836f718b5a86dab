"""`python -m cocodiff.features`: the PCA, the figure and its numbers from a tiny CoCoDiff run,
determinism, t-SNE (where scikit-learn is installed) and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cocodiff.cli import run_cli
from cocodiff.data.annotations import save_annotations
from cocodiff.data.embedded import CLASSES, EmbeddedConfig, embedded_annotations
from cocodiff.features import choose_classes, main
from cocodiff.method.projection import pca
from cocodiff.train import main as train_main
from cocodiff.training.metrics import read_metrics

from tiny_runs import one_line_error, tiny, untrained_checkpoint

SUMMARY_KEYS = {"N", "top1", "to_own_centroid", "to_nearest_other_centroid", "nearest_centroid_is_own", "spread"}




@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A CoCoDiff run of one epoch (3 steps) on 24 train / 24 val embedded clips; its best.pt."""
    folder = tmp_path_factory.mktemp("features")
    data = folder / "tiny.pkl"
    save_annotations(embedded_annotations(EmbeddedConfig(train_per_class=2, test_per_class=2)), data)
    threads = torch.get_num_threads()
    code = run_cli(train_main, tiny(data, folder, "run", "optim.epochs=1", "optim.warmup_epochs=0", "optim.milestones=[]",
                                    "method.enabled=true", "method.width=16", "method.heads=2", "method.depth=1"))
    torch.set_num_threads(threads)
    assert code == 0
    return folder / "run" / "best.pt"


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    """A checkpoint without the method (an untrained tiny CTR-GCN)."""
    return untrained_checkpoint(tmp_path_factory.mktemp("plain") / "best.pt")


def features(argv: list[str], capsys) -> tuple[int, str, str]:
    code = run_cli(main, [*argv, "--threads", "1", "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


# ---- PCA ------------------------------------------------------------------------------------------
def test_pca_matches_numpy_eigendecomposition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 5)) @ np.diag([5.0, 3.0, 1.0, 0.5, 0.1]) @ np.linalg.qr(rng.normal(size=(5, 5)))[0]
    mean, components, ratio = pca(x, 2)
    assert np.allclose(mean, x.mean(axis=0))
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(values)[::-1]
    for i in range(2):
        expected = vectors[:, order[i]]
        assert abs(abs(components[i] @ expected) - 1.0) < 1e-9  # same axis, either sign
        assert np.argmax(np.abs(components[i])) == np.argmax(components[i])  # signed deterministically
    assert np.allclose(ratio, values[order[:2]] / values.sum())
    assert np.allclose(components @ components.T, np.eye(2))


def test_pca_of_a_known_matrix_and_rank_deficiency():
    x = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
    mean, components, ratio = pca(x, 2)
    assert np.allclose(mean, 0) and np.allclose(components, np.eye(2)) and np.allclose(ratio, [0.8, 0.2])
    _, components, ratio = pca(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]]), 2)  # rank 1: PC2 is zero
    assert np.allclose(components, [[0, 0, 1], [0, 0, 0]]) and np.allclose(ratio, [1.0, 0.0])


def test_choose_classes():
    names = ["a", "b", "c"]
    assert choose_classes("2", names) == [0, 1] and choose_classes("10", names) == [0, 1, 2]
    assert choose_classes("all", names) == [0, 1, 2] and choose_classes("c, a", names) == [2, 0]


# ---- the command ------------------------------------------------------------------------------------
def test_pca_figure_and_numbers(run, tmp_path, capsys):
    out = tmp_path / "a" / "features.png"
    code, printed, err = features([str(run), "--out", str(out), "--classes", "all", "--samples", "2"], capsys)
    assert code == 0, err
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == "PNG" and 600 <= image.size[0] <= 2000 and 400 <= image.size[1] <= 1500
    report = json.loads(out.with_suffix(".json").read_text())
    assert {"checkpoint", "data", "split", "projection", "start", "steps", "samples", "seed", "classes", "real",
            "generated", "per_class"} <= set(report)
    assert report["projection"]["method"] == "pca" and report["start"] == 399 and report["split"] == "val"
    assert SUMMARY_KEYS <= set(report["real"]) and SUMMARY_KEYS | {"to_source_clip"} <= set(report["generated"])
    k = len(CLASSES)
    assert report["real"]["N"] == 2 * k and report["generated"]["N"] == 4 * k and len(report["per_class"]) == k
    for key in ("real", "generated"):
        assert 0.0 <= report[key]["top1"] <= 100.0
    # The real vectors are the classifier's own: with every val clip, real top-1 is the run's val top-1.
    val_top1 = read_metrics(run.parent / "metrics.jsonl")[-1]["val_top1"]
    assert report["real"]["top1"] == pytest.approx(val_top1, abs=1e-3)
    assert "real " in printed and "generated" in printed and "top-1" in printed and str(out) in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["features.json", "features.png"]  # no temporary left

    # Deterministic: the same command gives the same numbers; another seed other generated points.
    again = tmp_path / "b" / "features.png"
    assert features([str(run), "--out", str(again), "--classes", "all", "--samples", "2"], capsys)[0] == 0
    assert again.with_suffix(".json").read_text() == out.with_suffix(".json").read_text()
    other = tmp_path / "c" / "features.png"
    argv = [str(run), "--out", str(other), "--classes", "all", "--samples", "2", "--seed", "1"]
    assert features(argv, capsys)[0] == 0
    reseeded = json.loads(other.with_suffix(".json").read_text())
    assert reseeded["real"] == report["real"] and reseeded["generated"] != report["generated"]


def test_classes_per_class_and_start(run, tmp_path, capsys):
    out = tmp_path / "few.png"
    code, _, err = features([str(run), "--out", str(out), "--classes", "squat,bow", "--per-class", "1",
                             "--start", "50", "--steps", "3"], capsys)
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["classes"] == ["squat", "bow"] and report["real"]["N"] == 2 and report["start"] == 50
    assert [entry["name"] for entry in report["per_class"]] == ["squat", "bow"]


def test_tsne(run, tmp_path, capsys):
    pytest.importorskip("sklearn.manifold")
    out = tmp_path / "tsne.png"
    code, printed, err = features([str(run), "--out", str(out), "--method", "tsne"], capsys)
    assert code == 0, err
    assert json.loads(out.with_suffix(".json").read_text())["projection"]["method"] == "tsne"
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_tsne_without_scikit_learn_is_one_line(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # import fails as if not installed
    code, _, err = features([str(run), "--out", str(tmp_path / "t.png"), "--method", "tsne"], capsys)
    one_line_error(code, err, "pip install scikit-learn")
    assert not (tmp_path / "t.png").exists()


def test_checkpoint_without_the_method_is_one_line(plain, tmp_path, capsys):
    code, _, err = features([str(plain), "--out", str(tmp_path / "f.png")], capsys)
    one_line_error(code, err, "was trained without CoCoDiff")
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("extra, expected", [
    (["--classes", "no such class"], "--classes: no class named 'no such class'"),
    (["--start", "1000"], "--start 1000: must be in 0..999"),
    (["--out", "features.svg"], "name it *.png"),
    (["--per-class", "0"], "must be at least 1"),
])
def test_bad_arguments_are_one_line(run, tmp_path, capsys, extra, expected):
    argv = [str(run), "--out", str(tmp_path / "f.png"), *extra]
    if "--out" in extra:
        argv = [str(run), *extra]
    one_line_error(*features(argv, capsys)[::2], expected)
