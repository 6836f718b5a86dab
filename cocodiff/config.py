"""The training configuration: typed dataclasses, filled from YAML and `key=value` overrides.

    cfg = load_config("configs/ucla_joint.yaml", ["optim.lr=0.05", "model.base_channels=32"])

A YAML file holds a (partial) nested mapping of the fields below; overrides use dotted paths.
Unknown keys are refused with the list of valid ones, and every value is checked against the
field's type and range, so a typo fails before any work starts. No code is ever executed from a
config.

The defaults are the CPU recipe for the embedded dataset (`configs/embedded.yaml` spells them
out): what `python -m cocodiff.train` runs with no arguments, a few minutes on 2 CPU cores.
Published recipes for the real benchmarks live in `configs/*.yaml` and set every field they use.
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

from cocodiff.errors import CocodiffError


@dataclass
class DataConfig:
    # "embedded" for the built-in procedural dataset, else an annotation .pkl file.
    dataset: str = "embedded"
    train_split: str = "train"
    val_split: str = "val"
    # a class-stratified share of the training split (the low-data regime), the same clips in every
    # run; 1 = all of it
    train_fraction: float = 1.0
    layout: str | None = None  # needed only for files without meta (PYSKL / MMAction2)
    classes: str = ""  # a text file of class names, one a line in label order; "" = the file's own meta
    modality: Literal["joint", "bone", "joint_motion", "bone_motion"] = "joint"
    window: int = 32  # frames fed to the model (published NTU recipe: 64)
    num_persons: int = 1  # person slots fed to the model (NTU: 2; the embedded clips show one)
    use_score: bool = False  # 2D pose: append keypoint_score as a channel (x, y, score), as ST-GCN
    pre_normalize: bool = True  # centre, spine vertical, shoulders horizontal
    crop_ratio: tuple[float, float] = (0.75, 1.0)  # training: random crop of the valid frames
    eval_crop_ratio: float = 0.95  # evaluation: centred crop, resized to `window`
    rotate: float = 0.3  # training: max random rotation (radians) about each axis; 0 = off
    workers: int = 0  # DataLoader worker processes
    embedded_seed: int = 0  # the embedded dataset's own seed (its content, not the run's)
    fps: float = 0.0  # the clips' frame rate; 0 = the file's own (meta "fps"), required where it has none
    # how the clips fill person slots: motion, confidence or recorded; "" = the file's own, else recorded
    person_order: Literal["", "motion", "confidence", "recorded"] = ""


@dataclass
class ModelConfig:
    backbone: str = "ctrgcn"  # a name in cocodiff.models.BACKBONES: ctrgcn or stgcn
    base_channels: int = 16  # published: 64
    dropout: float = 0.0  # before the classifier
    unit_dropout: float = 0.0  # ST-GCN only: inside every unit (its Kinetics recipe: 0.5)


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


@dataclass
class MethodConfig:
    """The CoCoDiff auxiliary (training only); `enabled: false` trains the backbone alone.

    The defaults are the configuration frozen by issue 14's development fold (docs/results.md):
    the sampled generator, L_sem on the real features with soft targets from the texts."""

    enabled: bool = True
    # which text conditions the denoiser; "label" = a learned class embedding instead (a control)
    text: Literal["none", "coarse", "fine", "both", "label"] = "both"
    text_file: str = ""  # a corpus (.json, or GAP-style .txt); "" = the text shipped for the dataset
    text_shuffle: bool = False  # every class gets another class's text (a control)
    encoder: str = "minilm"  # text encoder: minilm, or clip:/local/folder
    latent: Literal["parts", "joints", "pooled"] = "parts"  # tokens the diffusion works on
    # what the classifier learns from (see cocodiff.method.auxiliary): stochastic samples of the
    # diffusion model, its one-step estimate (the first design), or a control's offset
    generator: Literal["sampled", "one_step", "gaussian", "class_covariance"] = "sampled"
    sample_steps: int = 2  # sampled: DDPM steps from a random level below t_max down to 0
    noise_drift: float = 0.3  # gaussian / class_covariance: RMS offset per channel, standardised units
    standardise: Literal["channel", "global"] = "channel"  # latent units: per-channel z-score, or one RMS
    skip: bool = True  # the denoiser predicts a correction to sqrt(abar) x_t (a skip path)
    semantic: Literal["real", "generated"] = "real"  # which features L_sem ties to the text
    soft_targets: bool = True  # L_sem's targets from the texts' own similarities, not one-hot
    grad_to_backbone: bool = True  # one_step only: L_diff, L_gen and L_sem reach the backbone through x_t
    schedule: Literal["linear", "cosine"] = "cosine"
    num_steps: int = 1000
    t_max: int = 400  # training noise levels t in [0, t_max): how far generated features drift
    width: int = 128  # denoiser transformer width (METHOD.md's full size: 256)
    depth: int = 2
    heads: int = 4
    p_uncond: float = 0.1  # condition dropout: a sample's text tokens dropped with this probability
    loss_diff: float = 1.0
    loss_gen: float = 0.5
    loss_sem: float = 0.5
    warmup_epochs: float = 2.0  # L_gen and L_sem ramp from 0 to full weight over these epochs
    temperature: float = 0.1  # of the semantic loss's cosine similarities
    lr: float = 1e-3  # AdamW for the auxiliary, following the backbone's warm-up and steps
    weight_decay: float = 0.01


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
        values = _read_yaml(Path(path))
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
        source = f"{source} + overrides"
    return check_config(config_from_dict(values, source))


def check_config(config: TrainConfig) -> TrainConfig:
    """Refuse values of the right type but out of range, in one line naming the key."""
    from cocodiff.models.build import BACKBONES, encoder_fields  # the registry (imports torch)

    data, model, optim = config.data, config.model, config.optim
    if model.backbone not in BACKBONES:
        raise CocodiffError(f"config: model.backbone={model.backbone!r} is not a backbone; "
                            f"choose one of {', '.join(BACKBONES)}")
    rules = [
        ("data.window", data.window >= 1, "must be at least 1"),
        ("data.num_persons", data.num_persons >= 1, "must be at least 1"),
        ("data.crop_ratio", 0 < data.crop_ratio[0] <= data.crop_ratio[1] <= 1, "must satisfy 0 < low <= high <= 1"),
        ("data.eval_crop_ratio", 0 < data.eval_crop_ratio <= 1, "must be in (0, 1]"),
        ("data.rotate", data.rotate >= 0, "must be >= 0 radians"),
        ("data.workers", data.workers >= 0, "must be >= 0"),
        ("data.embedded_seed", data.embedded_seed >= 0, "must be >= 0"),
        ("data.fps", data.fps >= 0, "must be >= 0 (0: the data's own frame rate)"),
        ("model.base_channels", model.base_channels >= 4 and model.base_channels % 4 == 0,
         "must be a positive multiple of 4"),
        ("model.dropout", 0 <= model.dropout < 1, "must be in [0, 1)"),
        ("model.unit_dropout", 0 <= model.unit_dropout < 1, "must be in [0, 1)"),
        ("model.unit_dropout", model.unit_dropout == 0 or "unit_dropout" in encoder_fields(model.backbone),
         f"is not an option of {model.backbone} (0 is the only value it takes)"),
        ("optim.epochs", optim.epochs >= 1, "must be at least 1"),
        ("optim.batch_size", optim.batch_size >= 1, "must be at least 1"),
        ("optim.lr", optim.lr > 0, "must be > 0"),
        ("optim.weight_decay", optim.weight_decay >= 0, "must be >= 0"),
        ("optim.warmup_epochs", optim.warmup_epochs >= 0, "must be >= 0"),
        ("optim.milestones", list(optim.milestones) == sorted(set(optim.milestones))
         and all(m >= 1 for m in optim.milestones),
         "must be increasing epoch numbers >= 1"),
        ("method.num_steps", config.method.num_steps >= 1, "must be at least 1"),
        ("method.t_max", 1 <= config.method.t_max <= config.method.num_steps, "must be in 1..method.num_steps"),
        ("method.heads", config.method.heads >= 1, "must be at least 1"),
        ("method.width", config.method.width >= 8 and config.method.width % config.method.heads == 0,
         "must be at least 8 and a multiple of method.heads"),
        ("method.depth", config.method.depth >= 1, "must be at least 1"),
        ("method.p_uncond", 0 <= config.method.p_uncond < 1, "must be in [0, 1)"),
        ("method.loss_diff", config.method.loss_diff >= 0, "must be >= 0"),
        ("method.loss_gen", config.method.loss_gen >= 0, "must be >= 0"),
        ("method.loss_sem", config.method.loss_sem >= 0, "must be >= 0"),
        ("method.temperature", config.method.temperature > 0, "must be > 0"),
        ("method.lr", config.method.lr > 0, "must be > 0"),
        ("data.train_fraction", 0 < config.data.train_fraction <= 1, "must be in (0, 1]"),
        ("method.sample_steps", config.method.sample_steps >= 1, "must be at least 1"),
        ("method.t_max", config.method.generator != "sampled" or config.method.t_max >= 2,
         "must be at least 2 for method.generator=sampled"),
        ("method.noise_drift", config.method.noise_drift >= 0, "must be >= 0"),
        ("method.warmup_epochs", config.method.warmup_epochs >= 0, "must be >= 0"),
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
            raise CocodiffError(f"config: {key}={value!r} {rule}")
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
