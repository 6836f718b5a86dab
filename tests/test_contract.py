"""The deployment contract: one typed object, strict on the way in, the same in a checkpoint and
in ONNX metadata; checkpoints from before it give one line and upgrade by a documented rule."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cocodiff.checkpoint import load_checkpoint, read_checkpoint_file, save_checkpoint
from cocodiff.cli import run_cli
from cocodiff.config import TrainConfig, config_to_dict
from cocodiff.contract import CONTRACT_VERSION, DeploymentContract, upgrade_format1
from cocodiff.data.frames import IMAGE, KINECT
from cocodiff.errors import CocodiffError
from cocodiff.upgrade import main as upgrade_main
from tiny_runs import contract_for

REPO = Path(__file__).resolve().parents[1]


def test_the_fields_are_the_dataclass_fields_and_round_trip():
    contract = contract_for(["a", "b"], clip_seconds=2.5)
    values = contract.to_dict()
    assert list(values) == [field.name for field in dataclasses.fields(DeploymentContract)]
    assert json.loads(json.dumps(values)) == values  # plain builtins only: checkpoint- and JSON-safe
    assert DeploymentContract.from_dict(values) == contract
    props = contract.to_metadata()
    assert set(props) == set(values) and all(isinstance(value, str) for value in props.values())
    assert DeploymentContract.from_metadata({**props, "exporter": "dynamo"}, "m.onnx") == contract
    assert contract.contract_version == CONTRACT_VERSION and contract.input_shape == (1, 16, 25, 3)
    assert contract.frame == KINECT and contract.coordinates == 3


@pytest.mark.parametrize("field, value, message", [
    ("window", 0, "field 'window' must be a positive integer"),
    ("window", "32", "field 'window' must be a positive integer"),
    ("num_persons", True, "field 'num_persons' must be a positive integer"),
    ("pre_normalize", 1, "field 'pre_normalize' must be true or false"),
    ("eval_crop_ratio", 1.5, r"field 'eval_crop_ratio' must be in \(0, 1\]"),
    ("fps", float("nan"), "field 'fps' must be a positive number"),
    ("classes", [], "field 'classes' must be a non-empty list"),
    ("classes", ["a", "a"], "field 'classes' names 'a' twice"),
    ("modality", "velocity", "field 'modality' must be one of joint, bone"),
    ("person_order", "random", "field 'person_order' must be one of motion, confidence, recorded"),
    ("layout", "smpl24", "unknown layout 'smpl24'"),
    ("joints", ["head"], "field 'joints' does not list layout 'ntu25'"),
    ("frame", {"x": "right", "y": "up", "z": "away", "units": "metres", "origin": "camera"}, "left-handed"),
    ("frame", IMAGE.to_dict(), "3 coordinates per joint, but the frame .* is 2D"),
    ("in_channels", 5, "5 input channels leave 5 coordinates per joint"),
    ("versions", {}, "field 'versions' must map package names"),
    ("backbone_options", {"f": object()}, "field 'backbone_options' must hold numbers"),
    ("contract_version", 99, "deployment contract version 99"),
])
def test_an_ill_typed_field_is_one_error_naming_it(field, value, message):
    values = {**contract_for(["a", "b"]).to_dict(), field: value}
    with pytest.raises(CocodiffError, match=message) as error:
        DeploymentContract.from_dict(values, "model.pt")
    assert str(error.value).startswith("model.pt: ") and "\n" not in str(error.value)


def test_a_missing_or_unknown_field_is_named_never_defaulted():
    values = contract_for(["a"]).to_dict()
    with pytest.raises(CocodiffError, match="lacks field.s. pre_normalize, fps"):
        DeploymentContract.from_dict({k: v for k, v in values.items() if k not in ("pre_normalize", "fps")}, "x")
    with pytest.raises(CocodiffError, match="unknown field.s. colour"):
        DeploymentContract.from_dict({**values, "colour": "red"}, "x")
    props = contract_for(["a"]).to_metadata()
    with pytest.raises(CocodiffError, match="metadata field 'window' is not valid JSON"):
        DeploymentContract.from_metadata({**props, "window": "thirty"}, "m.onnx")
    with pytest.raises(CocodiffError, match="m.onnx: carries no deployment contract"):
        DeploymentContract.from_metadata({"classes": "[]"}, "m.onnx")


def test_2d_contract_with_a_score_channel():
    contract = contract_for(["a"], "openpose18", in_channels=3, score_channel=True, person_order="confidence")
    assert contract.frame == IMAGE and contract.coordinates == 2 and contract.input_shape == (1, 16, 18, 3)


# ---- checkpoints --------------------------------------------------------------------------------------
def format1_checkpoint(path: Path, **meta_changes) -> Path:
    """A checkpoint as cocodiff wrote them before the contract (format 1, `meta`)."""
    from cocodiff.data.embedded import CLASSES
    from cocodiff.models import build_recognizer

    options = {"base_channels": 8, "num_persons": 1, "dropout": 0.0}
    model = build_recognizer("ctrgcn", "ntu25", 3, len(CLASSES), **options)
    meta = {"classes": list(CLASSES), "layout": "ntu25", "in_channels": 3, "num_persons": 1, "window": 16,
            "modality": "joint", "pre_normalize": True, "eval_crop_ratio": 0.95, "use_score": False,
            "backbone": "ctrgcn", "backbone_options": options, "dataset": "embedded", "cocodiff_version": "0.1.0",
            **meta_changes}
    content = {"format": 1, "model": model.state_dict(), "auxiliary": {}, "meta": meta,
               "config": config_to_dict(TrainConfig()), "train_state": {"epoch": 8}}
    buffer = io.BytesIO()
    torch.save(content, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_a_format1_checkpoint_is_one_line_naming_the_upgrade(tmp_path):
    old = format1_checkpoint(tmp_path / "old.pt")
    with pytest.raises(CocodiffError, match=r"old.pt: checkpoint format 1, saved before .* python -m cocodiff.upgrade"):
        load_checkpoint(old)
    result = subprocess.run([sys.executable, "-m", "cocodiff.evaluate", str(old)], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "cocodiff.upgrade" in result.stderr


@pytest.mark.slow
def test_upgrade_measures_the_timing_on_the_embedded_training_data(tmp_path, capsys):
    old = format1_checkpoint(tmp_path / "best.pt")
    original = old.read_bytes()
    assert run_cli(upgrade_main, [str(old)]) == 0
    assert (tmp_path / "best.format1.pt").read_bytes() == original  # nothing lost
    upgraded = load_checkpoint(old)
    contract = upgraded["contract"]
    assert contract.fps == 30.0 and 2.0 < contract.clip_seconds < 4.0  # the embedded clips: 60-120 frames
    assert (contract.frame, contract.person_order, contract.score_channel) == (KINECT, "recorded", False)
    assert contract.versions == {"cocodiff": "0.1.0"} and upgraded["train_state"] == {"epoch": 8}
    raw = read_checkpoint_file(tmp_path / "best.format1.pt")
    assert all(torch.equal(upgraded["model"][k], v) for k, v in raw["model"].items())
    assert "nothing to do" in (run_cli(upgrade_main, [str(old)]) == 0 and capsys.readouterr().out)


def test_upgrade_with_given_timing_and_its_refusals(tmp_path, capsys):
    old = format1_checkpoint(tmp_path / "ntu.pt", dataset="ntu60", num_persons=2,
                             backbone_options={"base_channels": 8, "num_persons": 2, "dropout": 0.0})
    out = tmp_path / "ntu2.pt"
    assert run_cli(upgrade_main, [str(old), "--out", str(out), "--fps", "30", "--clip-seconds", "2.7"]) == 0
    contract = load_checkpoint(out)["contract"]
    assert (contract.person_order, contract.clip_seconds, contract.num_persons) == ("motion", 2.7, 2)
    assert old.read_bytes() and not (tmp_path / "ntu.format1.pt").exists()
    no_normalize = format1_checkpoint(tmp_path / "bare.pt", dataset="x")
    content = torch.load(no_normalize, weights_only=True)
    del content["meta"]["pre_normalize"]
    torch.save(content, no_normalize)
    assert run_cli(upgrade_main, [str(no_normalize), "--fps", "30", "--clip-seconds", "2"]) == 2
    assert "lacks pre_normalize: cannot tell how it was preprocessed" in capsys.readouterr().err


def test_upgrade_rule_for_kinetics():
    meta = {"classes": ["a", "b"], "layout": "openpose18", "in_channels": 3, "num_persons": 2, "window": 150,
            "modality": "joint", "pre_normalize": False, "eval_crop_ratio": 1.0, "use_score": True,
            "backbone": "stgcn", "backbone_options": {}, "dataset": "kinetics"}
    contract = upgrade_format1(meta, fps=30, clip_seconds=10, source="k.pt", versions={"cocodiff": "0.1.0"})
    assert (contract.frame, contract.person_order, contract.score_channel) == (IMAGE, "confidence", True)


def test_checkpoint_saves_the_contract_as_plain_builtins(tmp_path):
    contract = contract_for(["a", "b"], backbone_options={"base_channels": 8, "num_persons": 1})
    save_checkpoint(tmp_path / "c.pt", model={}, contract=contract, config={})
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    assert raw["format"] == 2 and raw["contract"] == contract.to_dict()
    assert load_checkpoint(tmp_path / "c.pt")["contract"] == contract
    raw["contract"]["window"] = -1
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CocodiffError, match="bad.pt: deployment contract: field 'window'"):
        load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize("change, message", [
    ({"use_score": "false"}, "field 'score_channel' must be true or false"),
    ({"in_channels": "3"}, "field 'in_channels' must be a positive integer"),
    ({"classes": "abc"}, "field 'classes' must be a non-empty list"),
    ({"layout": 25}, "not a layout name"),
])
def test_upgrade_refuses_ill_typed_format1_values(change, message):
    meta = {"classes": ["a", "b"], "layout": "ntu25", "in_channels": 3, "num_persons": 1, "window": 16,
            "modality": "joint", "pre_normalize": True, "eval_crop_ratio": 0.95, "backbone": "ctrgcn",
            "backbone_options": {}, "dataset": "embedded", **change}
    with pytest.raises(CocodiffError, match=message):
        upgrade_format1(meta, fps=30, clip_seconds=2, source="old.pt", versions={"cocodiff": "0.1.0"})

