"""The training configuration: typed dataclasses, filled from YAML and `key=value` overrides.

    cfg = load_config("configs/ucla_joint.yaml", ["optim.lr=0.05", "model.base_channels=32"])

A YAML file holds a (partial) nested mapping of the fields of `TrainConfig` and its sections, optionally over another file
it names with `extends: other.yaml` (relative to itself; sections merge key by key); overrides
use dotted paths.
Unknown keys are refused with the list of valid ones, and every value is checked against the
field's type and range, so a typo fails before any work starts. No code is ever executed from a
config.

The defaults are the CPU recipe for the embedded dataset (`configs/embedded.yaml` spells them
out): what `python -m cocodiff.train` runs with no arguments, a few minutes on 2 CPU cores.
Published recipes for the real benchmarks live in `configs/*.yaml`: one base file per dataset
family that sets every field it uses, and deltas over it for the other streams and sizes.

Each section lives beside the code that reads it, with its range rules beside its fields:
`cocodiff.data.config.DataConfig`, `cocodiff.models.config.ModelConfig`,
`cocodiff.method.config.MethodConfig`; the run's own fields and the optimizer's (read by the
training loop) are here.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from cocodiff.data.config import DataConfig
from cocodiff.errors import CocodiffError
from cocodiff.method.config import MethodConfig
from cocodiff.models.config import ModelConfig


@dataclass
class OptimConfig:
    epochs: int = 12  # published NTU recipe: 65
    batch_size: int = 16  # the global batch, split across processes (published NTU: 64)
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-4
    warmup_epochs: int = 1  # linear warm-up, step by step (published NTU: 5)
    milestones: tuple[int, ...] = (9,)  # lr x gamma from these epochs on (published NTU: 35, 55)
    gamma: float = 0.1

    def rules(self) -> list[tuple[str, bool, str]]:
        """(field, whether its value is in range, the requirement) for this section's fields;
        `cocodiff.config.check_config` turns the first broken one into a one-line error."""
        return [
            ("epochs", self.epochs >= 1, "must be at least 1"),
            ("batch_size", self.batch_size >= 1, "must be at least 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("warmup_epochs", self.warmup_epochs >= 0, "must be >= 0"),
            ("milestones", list(self.milestones) == sorted(set(self.milestones)) and all(m >= 1 for m in self.milestones),
             "must be increasing epoch numbers >= 1"),
        ]


@dataclass
class TrainConfig:
    name: str = "embedded"
    seed: int = 0
    out_dir: str = "runs"  # the run directory is out_dir/name
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    threads: int = 0  # CPU threads per process; 0 = $OMP_NUM_THREADS if set, else the cores left idle
    # fp32; bf16 or fp16 autocast (fp16 only on CUDA, with a gradient scaler); fp64 to check numerics
    precision: Literal["fp32", "bf16", "fp16", "fp64"] = "fp32"
    channels_last: bool = False
    eval_every: int = 1  # epochs (the last epoch is always evaluated)
    save_every_steps: int = 0  # also write last.pt every this many steps inside an epoch; 0 = epoch ends only
    stop_after_steps: int = 0  # testing hook: stop as if killed after this many steps in total; 0 = off
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    method: MethodConfig = field(default_factory=MethodConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


SECTIONS = ("data", "model", "optim", "method")  # checked in this order
EXTENDS = "extends"  # the YAML key naming the file a config is a delta over


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


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = (),
                base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the YAML file (if any), then each `dotted.key=value` override.

    `base` (nested dicts, e.g. a saved run's config) takes the place of the file.
    """
    values: dict[str, Any] = {}
    source = "defaults"
    if path is not None and base is not None:
        raise ValueError("load_config takes a config file or a base config, not both")
    if path is not None:
        source = str(path)
        values, files = read_config_file(Path(path))
        source = " over ".join(str(file) for file in files)  # a delta's errors name its bases too
    elif base is not None:
        source = "saved config"
        values = copy.deepcopy(base)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise CocodiffError(f"override {override!r} is not of the form key=value (e.g. optim.lr=0.05)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(values, key.strip(), value, override)
    if overrides:
        source = f"{source} + overrides"
    return check_config(config_from_dict(values, source), source)


def check_config(config: TrainConfig, source: str = "config") -> TrainConfig:
    """Refuse values of the right type but out of range, in one line naming where the config
    came from and the key: each section's own rules (beside its fields), then the run's."""
    rules = [(f"{name}.{key}", ok, rule) for name in SECTIONS for key, ok, rule in getattr(config, name).rules()]
    rules += [
        ("name", bool(config.name) and "/" not in config.name and config.name not in (".", ".."),
         "must be a folder name (no '/')"),
        ("eval_every", config.eval_every >= 1, "must be at least 1"),
        ("threads", config.threads >= 0, "must be >= 0 (0 = automatic)"),
        ("save_every_steps", config.save_every_steps >= 0, "must be >= 0"),
        ("stop_after_steps", config.stop_after_steps >= 0, "must be >= 0"),
    ]
    for key, ok, rule in rules:
        if not ok:
            value = _get_dotted(config, key)
            raise CocodiffError(f"{source}: {key}={value!r} {rule}")
    return config


def _get_dotted(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


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


def read_config_file(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[Path]]:
    """The file's values over those of the file it `extends` (a path relative to it), section
    by section: a recipe is a delta over its base. Also the files read, this one first."""
    values = _read_yaml(path)
    parent = values.pop(EXTENDS, None)
    if parent is None:
        return values, [path]
    if not isinstance(parent, str) or not parent:
        raise CocodiffError(f"{path}: {EXTENDS} must name a config file, got {parent!r}")
    base_path = path.parent / parent
    if base_path.resolve() in seen or base_path.resolve() == path.resolve():
        raise CocodiffError(f"{path}: {EXTENDS} {parent} comes back to a file it extends")
    if not base_path.is_file():
        raise CocodiffError(f"{path}: {EXTENDS} {base_path}: no such config file")
    base_values, files = read_config_file(base_path, seen + (path.resolve(),))
    return _merged(base_values, values), [path, *files]


def _merged(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in delta.items():
        both_sections = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged(merged[key], value) if both_sections else value
    return merged


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
