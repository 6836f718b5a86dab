"""The training configuration: typed dataclasses, filled from YAML and `key=value` overrides.

    cfg = load_config("configs/ucla_joint.yaml", ["optim.lr=0.05", "model.base_channels=32"])

A YAML file holds a (partial) nested mapping of the fields below; overrides use dotted paths.
Unknown keys are refused with the list of valid ones, and every value is checked against the
field's type, so a typo fails before any work starts. No code is ever executed from a config.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from cocodiff.errors import CocodiffError


@dataclass
class DataConfig:
    # "embedded" for the built-in procedural dataset, else an annotation .pkl file.
    dataset: str = "embedded"
    train_split: str = "train"
    val_split: str = "val"
    layout: str | None = None  # needed only for files without meta (PYSKL / MMAction2)
    modality: Literal["joint", "bone", "joint_motion", "bone_motion"] = "joint"
    window: int = 64  # frames fed to the model
    num_persons: int = 2
    pre_normalize: bool = True  # centre, spine vertical, shoulders horizontal
    crop_ratio: tuple[float, float] = (0.5, 1.0)  # training: random crop of the valid frames
    eval_crop_ratio: float = 0.95  # evaluation: centred crop, resized to `window`
    rotate: float = 0.3  # training: max random rotation (radians) about each axis; 0 = off
    workers: int = 0  # DataLoader worker processes
    embedded_seed: int = 0  # the embedded dataset's own seed (its content, not the run's)


@dataclass
class ModelConfig:
    backbone: Literal["ctrgcn", "stgcn"] = "ctrgcn"
    base_channels: int = 64
    dropout: float = 0.0


@dataclass
class OptimConfig:
    epochs: int = 65
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-4
    warmup_epochs: int = 5
    milestones: tuple[int, ...] = (35, 55)  # lr x gamma at these epochs
    gamma: float = 0.1


@dataclass
class TrainConfig:
    name: str = "run"
    seed: int = 0
    out_dir: str = "runs"  # the run directory is out_dir/name
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # autocast dtype; fp16 only on CUDA
    channels_last: bool = False
    eval_every: int = 1  # epochs
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dicts of builtins (tuples become lists): YAML- and checkpoint-safe."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def config_from_dict(values: dict[str, Any], source: str = "config") -> TrainConfig:
    """A `TrainConfig` from nested dicts, refusing unknown keys and ill-typed values."""
    return _build(TrainConfig, values, source, prefix="")


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file (if any), then each `dotted.key=value` override."""
    values: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        values = _read_yaml(Path(path))
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise CocodiffError(f"override {override!r} is not of the form key=value (e.g. optim.lr=0.05)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(values, key.strip(), value, override)
        source = f"{source} + overrides"
    return config_from_dict(values, source)


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    from cocodiff.atomic import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CocodiffError(f"{path}: no such config file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0]
        raise CocodiffError(f"{path}: not valid YAML ({first})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise CocodiffError(f"{path}: a config must be a mapping of keys to values")
    return values


def _set_dotted(values: dict[str, Any], key: str, value: Any, override: str) -> None:
    parts = key.split(".")
    node = values
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise CocodiffError(f"override {override!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _valid_keys(cls: type, prefix: str) -> list[str]:
    keys = []
    for name, kind in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(kind):
            keys += _valid_keys(kind, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def _build(cls: type, values: Any, source: str, prefix: str) -> Any:
    if not isinstance(values, dict):
        raise CocodiffError(f"{source}: {prefix.rstrip('.') or 'the config'} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        valid = ", ".join(_valid_keys(cls, prefix))
        raise CocodiffError(f"{source}: unknown key(s) {', '.join(prefix + str(k) for k in unknown)}; valid keys: {valid}")
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value, source, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, kind, f"{prefix}{name}", source)
    return cls(**kwargs)


def _coerce(value: Any, kind: Any, key: str, source: str) -> Any:
    """`value` as type `kind`, or a one-line error naming the key and the expected type."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        if value in args:
            return value
        raise CocodiffError(f"{source}: {key}={value!r} is not one of {', '.join(map(repr, args))}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (arg for arg in args if arg is not type(None)):
            try:
                return _coerce(value, option, key, source)
            except CocodiffError as error:
                errors.append(str(error))
        raise CocodiffError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CocodiffError(f"{source}: {key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0], key, source) for item in value)
        if len(value) != len(args):
            raise CocodiffError(f"{source}: {key} must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(item, arg, key, source) for item, arg in zip(value, args))
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        return value
    raise CocodiffError(f"{source}: {key} must be {kind.__name__}, got {value!r}")
