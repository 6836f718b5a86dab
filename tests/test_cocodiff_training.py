"""Training with CoCoDiff (`method.enabled=true`) end to end on a tiny config.

- the method costs nothing at inference: checkpoints keep the plain recogniser's weights, the
  auxiliary apart;
- a run without the method saves an empty auxiliary;
- a killed and resumed run ends bit-identical to an uninterrupted one, auxiliary included;
- the ablation switches (text, latent, loss weights) reach the auxiliary and the logged losses;
- bad method input is one line with exit code 2;
- a user's GAP-style text file trains, embedded through a (fake) text encoder into the user cache.

No test here loads a real text model: the shipped corpus comes with shipped embeddings, and
every test runs with `make_encoder` replaced (by a failing stub, or by a fake encoder).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cocodiff.checkpoint import build_model, load_checkpoint
from cocodiff.config import load_config
from cocodiff.data.dataset import load_data
from cocodiff.data.embedded import CLASSES
from cocodiff.method.auxiliary import CoCoDiff
from cocodiff.method.build import class_text_embeddings
from cocodiff.method.text import embeddings, encoders
from cocodiff.method.text.corpus import CORPORA_DIR, FINE_PARTS
from cocodiff.models import BACKBONES, build_recognizer
from cocodiff.training.distributed import Dist
from cocodiff.training.loop import Trainer, backbone_options
from cocodiff.training.metrics import read_metrics

from tiny_runs import one_line_error, strip_timing, tiny, train

# A small auxiliary: width 16 with 2 heads (the default width is 128).
METHOD = ("method.enabled=true", "method.width=16", "method.heads=2")
TERMS = ("train_ce", "train_diff", "train_gen", "train_sem", "train_drift")


@pytest.fixture(autouse=True)
def no_text_model(tmp_path, monkeypatch):
    """The user's embedding cache goes to tmp_path, and building a text encoder fails: the shipped
    corpus must be served by the shipped embeddings alone (test 6 puts a fake encoder instead)."""
    monkeypatch.setenv("COCODIFF_CACHE", str(tmp_path / "cache"))

    def refuse(spec: str = encoders.MINILM_SPEC):
        raise AssertionError(f"a text encoder ({spec!r}) was built: the shipped embeddings should have sufficed")

    monkeypatch.setattr(encoders, "make_encoder", refuse)


def trained(argv: list[str], capsys) -> str:
    code, out, err = train(argv, capsys)
    assert code == 0, err
    return out


def numel(state: dict[str, torch.Tensor]) -> int:
    return sum(value.numel() for value in state.values())


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key, value in a.items():
        assert torch.equal(value, b[key]), f"{what}: {key}"


# ---- 1. zero inference cost ----------------------------------------------------------------------

@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_the_method_adds_nothing_to_the_deployed_model(tiny_data, tmp_path, capsys, backbone):
    argv = tiny(tiny_data, tmp_path, "run", f"model.backbone={backbone}", "optim.epochs=1", *METHOD)
    banner = trained(argv, capsys)
    assert "CoCoDiff auxiliary: on (both text from shipped corpora/embedded.json, encoder minilm" in banner
    config = load_config(overrides=argv)
    data = load_data(config.data)
    plain = build_recognizer(backbone, data.layout, data.in_channels, len(data.classes), **backbone_options(config))
    plain_state = plain.state_dict()
    assert not (tmp_path / "cache").exists(), "the shipped text was re-encoded"

    for name in ("best.pt", "last.pt"):
        checkpoint = load_checkpoint(tmp_path / "run" / name)
        weights = checkpoint["model"]
        # Exactly the plain recogniser's weights: same names, shapes and size; no trace of the method.
        assert weights.keys() == plain_state.keys(), name
        assert all(weights[k].shape == plain_state[k].shape for k in weights), name
        assert numel(weights) == numel(plain_state)
        deployed = build_model(checkpoint)  # the export / serving entry point, strict loading
        assert type(deployed) is type(plain)
        assert parameter_count(deployed) == parameter_count(plain)
        assert not any(isinstance(m, CoCoDiff) for m in deployed.modules())
        # The auxiliary is saved apart, and holds the denoiser and the latent's running statistics.
        auxiliary = checkpoint["auxiliary"]
        assert auxiliary and float(auxiliary["standardiser.std"].min()) > 0, name
        assert any(k.startswith("denoiser.blocks.") for k in auxiliary), name
        assert not set(auxiliary) & set(weights)
        assert checkpoint["config"]["method"]["enabled"] is True

    # The recogniser the trainer holds (with the auxiliary attached for training) computes exactly
    # what a plain backbone with checkpoint["model"] computes, and so does the training objective's
    # logits: the auxiliary never enters the recogniser's forward pass.
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    trainer = Trainer(config, data, tmp_path / "again", Dist(), torch.device("cpu"))
    trainer.load_train_state(checkpoint, "last.pt")  # strict for the model and the auxiliary
    assert trainer.auxiliary is not None and parameter_count(trainer.auxiliary) > 0
    assert parameter_count(trainer.model) == parameter_count(plain)
    assert trainer.model.state_dict().keys() == plain_state.keys()
    plain.load_state_dict(checkpoint["model"], strict=True)
    plain.eval()
    trainer.train_model.eval()
    x = torch.randn(4, 1, 16, 25, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = plain(x)
        assert torch.equal(trainer.model(x), expected)
        assert torch.equal(build_model(checkpoint)(x), expected)
        _, logits, terms = trainer.train_model(x, torch.arange(4))
    assert torch.equal(logits, expected)
    assert set(terms) == {"ce", "diff", "gen", "sem", "drift"}


# ---- 2. on by default; without the method -------------------------------------------------------

def test_the_main_job_trains_with_the_frozen_configuration_by_default(tiny_data, tmp_path, capsys):
    argv = tiny(tiny_data, tmp_path, "default", "optim.epochs=1", "method.width=16", "method.heads=2",
                backbone_alone=False)
    assert "CoCoDiff auxiliary: on" in trained(argv, capsys)
    checkpoint = load_checkpoint(tmp_path / "default" / "last.pt")
    assert checkpoint["auxiliary"], "the default run saved no auxiliary"
    method = checkpoint["config"]["method"]
    assert (method["generator"], method["semantic"], method["soft_targets"]) == ("sampled", "real", True)


def test_own_data_without_class_text_says_how_to_go_on(tiny_data, tmp_path, capsys):
    from cocodiff.data.annotations import load_annotations, save_annotations

    content = load_annotations(tiny_data)
    content["meta"]["dataset"] = "my_lab_recordings"
    save_annotations(content, tmp_path / "own.pkl")
    argv = tiny(tmp_path / "own.pkl", tmp_path, "own", backbone_alone=False)
    code, _, err = train(argv, capsys)
    one_line_error(code, err, "no shipped class text for this dataset")
    assert "method.text_file" in err and "method.enabled=false" in err
    assert train(argv + ["method.enabled=false"], capsys)[0] == 0  # the backbone alone still trains


def test_a_run_without_the_method_saves_an_empty_auxiliary(tiny_data, tmp_path, capsys):
    banner = trained(tiny(tiny_data, tmp_path, "plain", "optim.epochs=1"), capsys)
    assert "CoCoDiff auxiliary: off" in banner
    for name in ("best.pt", "last.pt"):
        checkpoint = load_checkpoint(tmp_path / "plain" / name)
        assert checkpoint["auxiliary"] == {}, name
        assert checkpoint["config"]["method"]["enabled"] is False
    assert load_checkpoint(tmp_path / "plain" / "last.pt")["train_state"]["aux_optimizer"] == {}
    line = read_metrics(tmp_path / "plain" / "metrics.jsonl")[0]
    assert not set(TERMS) & set(line), "loss terms are logged only when the auxiliary runs"
    # Such a run cannot be resumed with the method switched on: there is no auxiliary to restore.
    code, _, err = train(["--resume", str(tmp_path / "plain"), "optim.epochs=2", *METHOD], capsys)
    one_line_error(code, err, "last.pt: was trained without the CoCoDiff auxiliary; resume it with method.enabled=false")


# ---- 3. resume -----------------------------------------------------------------------------------

def test_resume_with_the_method_matches_an_uninterrupted_run(tiny_data, tmp_path, capsys):
    extra = (*METHOD, "save_every_steps=2", "data.rotate=0.2")
    trained(tiny(tiny_data, tmp_path, "whole", *extra), capsys)
    # Killed after step 7 (epoch 2, batch 3 of 4): the last save was at step 6, so step 7 is redone.
    code, out, _ = train(tiny(tiny_data, tmp_path, "killed", *extra, "stop_after_steps=7"), capsys)
    assert code == 0 and "stopped after step 7" in out
    killed = tmp_path / "killed"
    state = torch.load(killed / "last.pt", weights_only=True)["train_state"]
    assert (state["epoch"], state["batch"], state["step"]) == (1, 2, 6)
    assert state["aux_optimizer"]["state"], "the auxiliary's AdamW moments were not saved mid-epoch"
    code, out, err = train(["--resume", str(killed), "stop_after_steps=0"], capsys)
    assert code == 0, err
    assert "resuming at epoch 2, batch 3" in out

    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    resumed = torch.load(killed / "last.pt", weights_only=True)
    assert_same_tensors(whole["model"], resumed["model"], "model")
    assert whole["auxiliary"] and "standardiser.mean" in whole["auxiliary"]
    assert_same_tensors(whole["auxiliary"], resumed["auxiliary"], "auxiliary")
    for optimizer in ("optimizer", "aux_optimizer"):
        a, b = whole["train_state"][optimizer]["state"], resumed["train_state"][optimizer]["state"]
        assert a.keys() == b.keys() and a, optimizer
        for index in a:
            assert_same_tensors(a[index], b[index], f"{optimizer} state {index}")
    lines = read_metrics(tmp_path / "whole" / "metrics.jsonl")
    assert all(set(TERMS) <= set(line) for line in lines)
    assert strip_timing(lines) == strip_timing(read_metrics(killed / "metrics.jsonl"))


# ---- 4. ablation switches ------------------------------------------------------------------------

# Which semantic heads each text mode builds, given the latent: the fine (per-part) loss needs a
# latent with body parts, so text=fine on a pooled latent trains with L_sem = 0 (by design:
# `Latent.part_pool` refuses a pooled latent and `CoCoDiff.uses_part_semantics` turns it off).
SLOTS = {"parts": 6, "joints": 25, "pooled": 1}


@pytest.mark.parametrize("text, latent", [
    ("none", "parts"), ("coarse", "pooled"), ("fine", "joints"), ("both", "parts"), ("fine", "pooled"),
    ("both", "joints"),
])
def test_ablation_switches_reach_the_auxiliary_and_the_log(tiny_data, tmp_path, capsys, text, latent):
    trained(tiny(tiny_data, tmp_path, "ablation", "optim.epochs=1", *METHOD, f"method.text={text}",
                 f"method.latent={latent}", "method.warmup_epochs=0"), capsys)
    checkpoint = load_checkpoint(tmp_path / "ablation" / "last.pt")
    auxiliary = checkpoint["auxiliary"]
    coarse = text in ("coarse", "both")
    part = text in ("fine", "both") and latent != "pooled"
    assert ("coarse_head.weight" in auxiliary) == coarse
    assert ("part_head.weight" in auxiliary) == part
    assert auxiliary["denoiser.slot_embedding"].shape == (SLOTS[latent], 16)
    text_dim = 1 if text == "none" else 384  # all-MiniLM-L6-v2, from the shipped embeddings
    assert auxiliary["denoiser.cond_input.weight"].shape == (16, text_dim)
    assert checkpoint["config"]["method"]["text"] == text and checkpoint["config"]["method"]["latent"] == latent

    (line,) = read_metrics(tmp_path / "ablation" / "metrics.jsonl")
    assert set(TERMS) <= set(line)
    assert all(math.isfinite(line[key]) for key in TERMS)
    assert line["train_ce"] > 0 and line["train_diff"] > 0 and line["train_gen"] > 0
    if coarse or part:
        assert line["train_sem"] > 0
    else:
        assert line["train_sem"] == 0
    # The logged total is the weighted sum of the logged terms (default weights 1, 0.5, 0.5).
    total = line["train_ce"] + line["train_diff"] + 0.5 * line["train_gen"] + 0.5 * line["train_sem"]
    assert line["train_loss"] == pytest.approx(total, rel=1e-6)


@pytest.mark.parametrize("overrides", [
    ("method.generator=one_step", "method.standardise=global", "method.skip=false"),
    ("method.generator=gaussian", "method.noise_drift=0.4"),
    ("method.generator=class_covariance", "method.noise_drift=0.4"),
    ("method.text=label",),
    ("method.text_shuffle=true", "method.semantic=real", "method.soft_targets=true"),
])
def test_every_generator_and_control_trains_and_logs_its_drift(tiny_data, tmp_path, capsys, overrides):
    trained(tiny(tiny_data, tmp_path, "arm", "optim.epochs=1", *METHOD, *overrides), capsys)
    (line,) = read_metrics(tmp_path / "arm" / "metrics.jsonl")
    assert all(math.isfinite(line[key]) for key in TERMS) and line["train_drift"] > 0
    if "method.generator=gaussian" in overrides:  # class covariance needs more than one epoch's classes
        assert line["train_drift"] == pytest.approx(0.4, rel=0.35)
    config = load_checkpoint(tmp_path / "arm" / "last.pt")["config"]["method"]
    for override in overrides:
        key, value = override.removeprefix("method.").split("=")
        assert str(config[key]).lower() == value


def test_the_warm_up_holds_back_the_generated_losses(tiny_data, tmp_path, capsys):
    """With a warm-up far longer than the run, L_gen and L_sem weigh (almost) nothing yet."""
    trained(tiny(tiny_data, tmp_path, "warm", "optim.epochs=1", *METHOD, "method.warmup_epochs=1000000"), capsys)
    (line,) = read_metrics(tmp_path / "warm" / "metrics.jsonl")
    assert line["train_gen"] > 0 and line["train_sem"] > 0
    assert line["train_loss"] == pytest.approx(line["train_ce"] + line["train_diff"], rel=1e-5)


def test_every_evaluation_keeps_each_clip_logits(tiny_data, tmp_path, capsys):
    trained(tiny(tiny_data, tmp_path, "logits", "optim.epochs=1", *METHOD), capsys)
    (line,) = read_metrics(tmp_path / "logits" / "metrics.jsonl")
    with np.load(tmp_path / "logits" / "val_logits.npz") as saved:
        logits, labels, names, epoch = saved["logits"], saved["labels"], saved["names"], int(saved["epoch"])
    assert epoch == 1 and logits.shape == (len(labels), logits.shape[1]) and len(set(names.tolist())) == len(labels)
    assert 100.0 * (logits.argmax(1) == labels).mean() == pytest.approx(line["val_top1"])


def test_zero_loss_weights_leave_the_backbone_exactly_as_the_baseline(tiny_data, tmp_path, capsys):
    """With method.loss_diff = loss_gen = loss_sem = 0 the backbone trains bit for bit as without
    the method, though the auxiliary still runs and draws random numbers (t, noise, condition
    dropout, sentence choice). Decided by experiment, and it holds because torch's RNG use is
    isolated per step: the backbone is initialised (after `torch.manual_seed(seed)`) before the
    auxiliary is built, `Trainer._step` reseeds the generator from (seed, step, rank) before every
    forward, and `Objective` runs the whole recogniser, classifier dropout included, before the
    auxiliary draws anything. So dropout (0.3 here, to make the RNG matter) sees the same numbers
    in both runs, and the zero-weighted terms add exactly 0 to the loss and to every gradient."""
    extra = ("optim.epochs=1", "model.dropout=0.3")
    trained(tiny(tiny_data, tmp_path, "baseline", *extra), capsys)
    trained(tiny(tiny_data, tmp_path, "zero", *extra, *METHOD, "method.loss_diff=0", "method.loss_gen=0",
                 "method.loss_sem=0"), capsys)
    baseline = load_checkpoint(tmp_path / "baseline" / "last.pt")
    zero = load_checkpoint(tmp_path / "zero" / "last.pt")
    assert_same_tensors(baseline["model"], zero["model"], "model")
    assert zero["auxiliary"] and not baseline["auxiliary"]
    (base_line,), (zero_line,) = (read_metrics(tmp_path / n / "metrics.jsonl") for n in ("baseline", "zero"))
    assert zero_line["train_loss"] == zero_line["train_ce"] == base_line["train_loss"]
    assert zero_line["train_diff"] > 0 and zero_line["train_gen"] > 0 and zero_line["train_sem"] > 0
    for key in ("train_top1", "val_loss", "val_top1", "val_top5"):
        assert zero_line[key] == base_line[key], key


@pytest.mark.parametrize("precision", ["bf16", "fp64"])
def test_the_method_trains_in_the_other_cpu_precisions(tiny_data, tmp_path, capsys, precision):
    """fp32 is covered above. fp64 is the precision for exact numeric checks (test_train's
    2-process test uses it), bf16 the fast CPU one; both must train the auxiliary too."""
    trained(tiny(tiny_data, tmp_path, precision, "optim.epochs=1", "device=cpu", f"precision={precision}", *METHOD),
            capsys)
    (line,) = read_metrics(tmp_path / precision / "metrics.jsonl")
    assert all(math.isfinite(line[key]) for key in (*TERMS, "train_loss", "val_loss"))
    checkpoint = load_checkpoint(tmp_path / precision / "last.pt")
    dtype = torch.float64 if precision == "fp64" else torch.float32  # autocast keeps fp32 master weights
    assert {value.dtype for value in checkpoint["auxiliary"].values()} == {dtype}
    assert checkpoint["model"]["classifier.fc.weight"].dtype == dtype


# ---- 5. bad input --------------------------------------------------------------------------------

def corpus_without(tmp_path: Path, missing: str) -> Path:
    """The shipped embedded corpus less one class."""
    content = json.loads((CORPORA_DIR / "embedded.json").read_text(encoding="utf-8"))
    content["classes"] = [c for c in content["classes"] if c["name"] != missing]
    assert len(content["classes"]) == len(CLASSES) - 1
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@pytest.mark.parametrize("argv, expected", [
    (["method.text_file={tmp}/no-such-text.json"], "{tmp}/no-such-text.json: no such text file"),
    (["method.text_file={partial}"], "{partial}: has no text for 1 class(es): '{missing}'"),
    (["method.t_max=1001"], "method.t_max=1001 must be in 1..method.num_steps"),
    (["method.num_steps=50", "method.t_max=51"], "method.t_max=51 must be in 1..method.num_steps"),
    (["method.text=bogus"], "method.text='bogus' is not one of 'none', 'coarse', 'fine', 'both'"),
])
def test_bad_method_input_is_one_line(tiny_data, tmp_path, capsys, argv, expected):
    names = {"tmp": tmp_path, "missing": CLASSES[-1], "partial": corpus_without(tmp_path, CLASSES[-1])}
    argv = [a.format(**names) for a in argv]
    code, _, err = train(tiny(tiny_data, tmp_path, "bad", *METHOD, *argv), capsys)
    one_line_error(code, err, expected.format(**names))
    assert not (tmp_path / "bad" / "last.pt").exists()


# ---- 6. a user's GAP-style text file -------------------------------------------------------------

class FakeEncoder:
    """Random unit vectors, the same for the same text; records what it was asked to encode."""

    def __init__(self, name: str, dim: int = 384):  # MiniLM's size, as the shipped vectors for it
        self.name, self.dim, self.calls = name, dim, []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            row = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows)


def test_a_gap_style_text_file_trains_through_a_fake_encoder(tiny_data, tmp_path, capsys, monkeypatch):
    built: list[FakeEncoder] = []

    def make(spec: str = encoders.MINILM_SPEC) -> FakeEncoder:
        built.append(FakeEncoder(encoders.encoder_name(spec)))
        return built[-1]

    monkeypatch.setattr(encoders, "make_encoder", make)
    gap = tmp_path / "gap.txt"
    fine = {name: [f"for {name}, the {part} moves its own way" for part in ("head", "hand", "arm", "hip", "leg",
                                                                            "foot")] for name in CLASSES}
    gap.write_text("# class;head;hand;arm;hip;leg;foot\n" + "".join(
        f"{name};{';'.join(fine[name])}\n" for name in reversed(CLASSES)), encoding="utf-8")  # any order

    argv = tiny(tiny_data, tmp_path, "gap", "optim.epochs=1", *METHOD, f"method.text_file={gap}")
    trained(argv, capsys)
    (line,) = read_metrics(tmp_path / "gap" / "metrics.jsonl")
    assert all(math.isfinite(line[key]) for key in TERMS) and line["train_sem"] > 0
    checkpoint = load_checkpoint(tmp_path / "gap" / "last.pt")
    assert checkpoint["config"]["method"]["text_file"] == str(gap)
    assert "part_head.weight" in checkpoint["auxiliary"] and "coarse_head.weight" in checkpoint["auxiliary"]

    # One encoder, built once, for the new sentences only: the class names (the only coarse text
    # of a GAP file) come from the shipped embeddings. They land in the cache under tmp_path.
    sentences = {s for sentences in fine.values() for s in sentences}
    assert len(built) == 1 and set(built[0].calls[0]) == sentences and len(built[0].calls) == 1
    cache = tmp_path / "cache" / "text-embeddings" / embeddings.cache_file_name(encoders.MINILM_NAME)
    assert cache.is_file()
    with np.load(cache) as table:
        keys = set(table["keys"].tolist())
    assert keys == {embeddings.text_key(encoders.MINILM_NAME, s) for s in sentences}

    # A second use of the same file is served from that cache: no encoder is built, same vectors.
    method = load_config(overrides=argv).method
    text = class_text_embeddings(method, list(CLASSES), "embedded")
    assert len(built) == 1
    assert text.classes == list(CLASSES) and text.fine.shape == (len(CLASSES), len(FINE_PARTS), 384)
    assert np.array_equal(text.fine[3], built[0].encode(fine[CLASSES[3]]))
    assert list(text.coarse_count) == [1] * len(CLASSES)
