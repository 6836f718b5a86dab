"""The training config: defaults, YAML files, key=value overrides, and one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cocodiff.config import TrainConfig, config_to_dict, load_config, save_config
from cocodiff.errors import CocodiffError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_embedded_yaml_spells_out_the_defaults():
    assert load_config(REPO / "configs" / "embedded.yaml") == load_config() == TrainConfig()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert config.name == path.stem
    assert config.model.base_channels % 4 == 0


def test_kinetics_follows_st_gcns_recipe_with_its_unit_dropout():
    """ST-GCN's Kinetics recipe: ST-GCN itself, dropout 0.5 inside every unit."""
    from cocodiff.models import build_recognizer
    from cocodiff.training.deployment import backbone_options

    config = load_config(REPO / "configs" / "kinetics_joint.yaml")
    assert config.model.backbone == "stgcn"
    options = backbone_options(config)
    assert options["unit_dropout"] == 0.5 and "num_persons" not in options
    model = build_recognizer("stgcn", "openpose18", 3, 400, **{**options, "base_channels": 8})
    rates = [m.p for m in model.encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(rates) == 10 and set(rates) == {0.5}


def test_a_config_is_a_delta_over_the_file_it_extends(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "base.yaml").write_text("name: base\ndata:\n  window: 40\n  rotate: 0.1\noptim:\n  epochs: 7\n")
    (tmp_path / "middle.yaml").write_text("extends: recipes/base.yaml\nname: middle\ndata:\n  window: 20\n")
    (tmp_path / "top.yaml").write_text("extends: middle.yaml\nname: top\noptim:\n  lr: 0.2\n")
    config = load_config(tmp_path / "top.yaml", ["data.rotate=0"])
    assert config.name == "top" and config.data.window == 20 and config.optim.epochs == 7 and config.optim.lr == 0.2
    assert config.data.rotate == 0.0  # overrides still come last
    assert config.data.modality == "joint"  # untouched by any file: the default
    with pytest.raises(CocodiffError) as error:  # an error names the delta and what it extends
        load_config(tmp_path / "top.yaml", ["data.window=0"])
    assert "top.yaml over " in str(error.value) and "middle.yaml over " in str(error.value)
    assert "base.yaml + overrides: data.window=0 must be at least 1" in str(error.value)


@pytest.mark.parametrize("files, expected", [
    ({"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"}, "comes back to a file it extends"),
    ({"a.yaml": "extends: a.yaml\n"}, "comes back to a file it extends"),
    ({"a.yaml": "extends: missing.yaml\n"}, "missing.yaml: no such config file"),
    ({"a.yaml": "extends: [b.yaml]\n"}, "extends must name a config file"),
])
def test_bad_extends_is_one_line(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(CocodiffError) as error:
        load_config(tmp_path / "a.yaml")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_the_shipped_recipes_are_deltas_over_one_base_each():
    """One file per dataset family says every field; the streams and sizes say what differs."""
    import yaml

    bases = {path.name for path in CONFIGS if "extends" not in yaml.safe_load(path.read_text())}
    assert bases == {"embedded.yaml", "kinetics_joint.yaml", "ntu60_xsub_joint.yaml", "ucla_joint.yaml"}


def test_overrides_are_typed_and_nested():
    config = load_config(overrides=["optim.lr=0.05", "optim.milestones=[3, 5]", "data.crop_ratio=[0.6, 1]",
                                    "model.base_channels=8", "data.layout=ntu25", "name=quick", "data.rotate=0"])
    assert config.optim.lr == 0.05 and config.optim.milestones == (3, 5)
    assert config.data.crop_ratio == (0.6, 1.0) and isinstance(config.data.crop_ratio[1], float)
    assert config.model.base_channels == 8 and config.data.layout == "ntu25" and config.name == "quick"
    assert config.data.rotate == 0.0


def test_overrides_apply_after_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.2\n  epochs: 3\nname: mine\n")
    config = load_config(path, ["optim.epochs=5"])
    assert (config.optim.lr, config.optim.epochs, config.name) == (0.2, 5, "mine")
    assert config.data == TrainConfig().data  # untouched sections keep the defaults


def test_base_config_plus_overrides():
    saved = config_to_dict(load_config(overrides=["optim.epochs=3"]))
    config = load_config(overrides=["optim.lr=0.01"], base=saved)
    assert config.optim.epochs == 3 and config.optim.lr == 0.01


def test_save_and_reload_round_trip(tmp_path):
    config = load_config(overrides=["optim.milestones=[2]", "data.layout=kinect20", "precision=bf16"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize("override, expected", [
    ("optim.lrr=1", "unknown key(s) optim.lrr; valid keys: optim.epochs, optim.batch_size, optim.lr"),
    ("nme=x", "unknown key(s) nme; valid keys: name, seed"),
    ("data.windw=3", "valid keys: data.dataset"),
])
def test_unknown_keys_are_refused_with_the_valid_ones(override, expected):
    with pytest.raises(CocodiffError, match="unknown key") as error:
        load_config(overrides=[override])
    assert expected in str(error.value)


@pytest.mark.parametrize("override, expected", [
    ("optim.lr=fast", "optim.lr must be float"),
    ("optim.epochs=2.5", "optim.epochs must be int"),
    ("data.modality=depth", "data.modality='depth' is not one of"),
    ("optim.milestones=4", "optim.milestones must be a list"),
    ("data.crop_ratio=[0.5]", "data.crop_ratio must have 2 items"),
    ("model.base_channels=6", "model.base_channels=6 must be a positive multiple of 4"),
    ("optim.batch_size=0", "optim.batch_size=0 must be at least 1"),
    ("optim.milestones=[5, 3]", "must be increasing"),
    ("data.crop_ratio=[0.9, 0.5]", "data.crop_ratio"),
    ("name=a/b", "name='a/b' must be a folder name"),
    ("data=3", "data must be a mapping"),
    ("optim.lr", "is not of the form key=value"),
    ("optim.lr.x=1", "optim.lr must be float"),
    ("data.train_fraction=0", "data.train_fraction=0.0 must be in (0, 1]"),
    ("method.generator=diffusion", "method.generator='diffusion' is not one of"),
    ("method.sample_steps=0", "method.sample_steps=0 must be at least 1"),
    ("method.t_max=1", "method.t_max=1 must be at least 2 for method.generator=sampled"),
    ("method.noise_drift=-1", "method.noise_drift=-1.0 must be >= 0"),
    ("model.backbone=resnet", "model.backbone='resnet' is not a backbone; choose one of ctrgcn, stgcn"),
    ("model.unit_dropout=0.5", "model.unit_dropout=0.5 is not an option of ctrgcn"),
    ("model.unit_dropout=1", "model.unit_dropout=1.0 must be in [0, 1)"),
])
def test_bad_values_are_one_line_errors(override, expected):
    with pytest.raises(CocodiffError) as error:
        load_config(overrides=[override])
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("text, expected", [
    ("optim: [1,\n", "not valid YAML"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("optim:\n  lrr: 1\n", "unknown key(s) optim.lrr"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CocodiffError) as error:
        load_config(path)
    assert expected in str(error.value) and str(path) in str(error.value)


def test_missing_file():
    with pytest.raises(CocodiffError, match="no such config file"):
        load_config("does/not/exist.yaml")


def test_empty_file_means_defaults(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml") == TrainConfig()
