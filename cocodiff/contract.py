"""The deployment contract: everything a runtime must know to feed a trained model correctly.

One typed, versioned, frozen dataclass, `DeploymentContract`. Training writes it into the
checkpoint; the ONNX export copies the same object into the file's metadata and the TensorRT
build into its engine's sidecar; every reader (evaluation, export, serve, the demo) gets it back
through the same strict validation. The fields of the dataclass are the one list of what the
contract holds. A missing, unknown or ill-typed field is a `CocodiffError` naming it: nothing is
ever filled in with a default on the way in.

Fields:

- `classes`: class names, in logit order.
- `layout`, `joints`: the joint layout (`cocodiff.data.layouts`) and its joint names, in order.
- `frame`: the coordinate frame the model was trained in (`cocodiff.data.frames`): where each
  axis points seen from the camera, the units (metres; or image-normalised for 2D) and the
  origin.
- `window`: frames per model input; `num_persons`: person slots per input.
- `person_order`: how the training data filled the slots: `motion` (most active body first, as
  NTU's preprocessing ranks them), `confidence` (highest total detector confidence first, as for
  Kinetics-Skeleton) or `recorded` (as the recording lists them: single-person data).
- `modality`: joint, bone, joint_motion or bone_motion; `in_channels`: channels per joint that
  the model reads; `score_channel`: whether the last of them is the detector's confidence.
- `pre_normalize`, `eval_crop_ratio`: the evaluation preprocessing (`cocodiff.data.pipelines`).
- `fps`: the frame rate of the training clips; `clip_seconds`: their median duration. A live
  buffer turns the recent past into a clip like those: `clip_seconds` of it, at `fps`.
- `backbone`, `backbone_options`: how to rebuild the network; `dataset`: what it learnt from.
- `versions`: the versions of cocodiff and torch that trained it.
- `contract_version`: `CONTRACT_VERSION`, bumped whenever a field is added, removed or changes
  meaning.

Checkpoints written before the contract existed (checkpoint format 1) are upgraded by
`python -m cocodiff.upgrade`, by the rule of `upgrade_format1`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from cocodiff.data.frames import CoordinateFrame, default_frame
from cocodiff.data.layouts import get_layout
from cocodiff.data.transforms.modality import MODALITIES
from cocodiff.errors import CocodiffError

CONTRACT_VERSION = 1
PERSON_ORDERS = ("motion", "confidence", "recorded")


# ---- field checks: each returns the canonical value or raises ValueError saying what is wrong ----
def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be non-empty text, got {value!r}")
    return value


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"must be a non-empty list of names, got {value!r}")
    names = tuple(value)
    if not all(isinstance(name, str) and name for name in names):
        raise ValueError("must hold non-empty text only")
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"names {duplicate!r} twice")
    return names


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


def _positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return value
    return check


def _crop_ratio(value: Any) -> float:
    ratio = _positive_number(value)
    if ratio > 1:
        raise ValueError(f"must be in (0, 1], got {value!r}")
    return ratio


def _frame(value: Any) -> CoordinateFrame:
    if isinstance(value, CoordinateFrame):
        return value
    try:
        return CoordinateFrame.from_dict(value, where="value")
    except CocodiffError as error:
        raise ValueError(str(error)) from None


def _options(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"must be a mapping with text keys, got {value!r}")
    try:
        json.dumps(dict(value))
    except (TypeError, ValueError):
        raise ValueError("must hold numbers, text, booleans and lists of them only") from None
    return dict(value)


def _versions(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value or not all(
            isinstance(key, str) and isinstance(item, str) for key, item in value.items()):
        raise ValueError(f"must map package names to version text, got {value!r}")
    return dict(value)


def _contract_version(value: Any) -> int:
    if value != CONTRACT_VERSION or isinstance(value, bool):
        raise ValueError(f"is {value!r}; this cocodiff reads contract version {CONTRACT_VERSION}")
    return value


def _check(checker: Callable[[Any], Any]) -> dict[str, Any]:
    return {"check": checker}


@dataclass(frozen=True)
class DeploymentContract:
    """See the module docstring for what each field means."""

    classes: tuple[str, ...] = field(metadata=_check(_names))
    layout: str = field(metadata=_check(_text))
    joints: tuple[str, ...] = field(metadata=_check(_names))
    frame: CoordinateFrame = field(metadata=_check(_frame))
    window: int = field(metadata=_check(_positive_int))
    num_persons: int = field(metadata=_check(_positive_int))
    person_order: str = field(metadata=_check(_one_of(PERSON_ORDERS)))
    modality: str = field(metadata=_check(_one_of(MODALITIES)))
    in_channels: int = field(metadata=_check(_positive_int))
    score_channel: bool = field(metadata=_check(_flag))
    pre_normalize: bool = field(metadata=_check(_flag))
    eval_crop_ratio: float = field(metadata=_check(_crop_ratio))
    fps: float = field(metadata=_check(_positive_number))
    clip_seconds: float = field(metadata=_check(_positive_number))
    backbone: str = field(metadata=_check(_text))
    backbone_options: Mapping[str, Any] = field(metadata=_check(_options))
    dataset: str = field(metadata=_check(_text))
    versions: Mapping[str, str] = field(metadata=_check(_versions))
    contract_version: int = field(default=CONTRACT_VERSION, metadata=_check(_contract_version))

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            try:
                object.__setattr__(self, item.name, item.metadata["check"](value))
            except ValueError as error:
                raise CocodiffError(f"deployment contract: field {item.name!r} {error}") from None
        self._check_consistency()

    def _check_consistency(self) -> None:
        layout = get_layout(self.layout)
        if self.joints != layout.joints:
            raise CocodiffError(f"deployment contract: field 'joints' does not list layout {self.layout!r}'s "
                                f"{layout.num_joints} joints in order")
        if self.coordinates not in (2, 3):
            raise CocodiffError(f"deployment contract: {self.in_channels} input channels"
                                f"{' with a score channel' if self.score_channel else ''} leave "
                                f"{self.coordinates} coordinates per joint; expected 2 or 3")
        if self.coordinates != self.frame.dims:
            raise CocodiffError(f"deployment contract: {self.coordinates} coordinates per joint, but the frame "
                                f"({self.frame.describe()}) is {self.frame.dims}D")

    # ---- derived ---------------------------------------------------------------------------
    @property
    def coordinates(self) -> int:
        """Coordinates per joint in the input (2 or 3); the score channel, if any, comes after."""
        return self.in_channels - (1 if self.score_channel else 0)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """(M, T, V, C) of one model input."""
        return self.num_persons, self.window, self.num_joints, self.in_channels

    def replace(self, **changes: Any) -> DeploymentContract:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        return (f"{self.backbone} on {self.dataset}: {self.num_classes} classes, layout {self.layout}, "
                f"{self.modality}, window {self.window}, {self.num_persons} person slot(s), "
                f"{self.frame.describe()}, clips of {self.clip_seconds:.2f} s at {self.fps:g} fps")

    # ---- plain builtins: checkpoints (weights_only) and JSON ---------------------------------
    def to_dict(self) -> dict[str, Any]:
        values = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, CoordinateFrame):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            values[item.name] = value
        return values

    @classmethod
    def from_dict(cls, values: Any, source: str = "deployment contract") -> DeploymentContract:
        """The contract in `values` (as `to_dict` wrote it); one CocodiffError naming `source` and
        the field otherwise."""
        if not isinstance(values, Mapping):
            raise CocodiffError(f"{source}: the deployment contract is not a mapping ({type(values).__name__})")
        names = [item.name for item in dataclasses.fields(cls)]
        missing = [name for name in names if name not in values]
        unknown = sorted(str(key) for key in values if key not in names)
        if "contract_version" in values and values["contract_version"] != CONTRACT_VERSION:
            raise CocodiffError(f"{source}: deployment contract version {values['contract_version']!r}; this "
                                f"cocodiff reads version {CONTRACT_VERSION}")
        if missing:
            raise CocodiffError(f"{source}: the deployment contract lacks field(s) {', '.join(missing)}")
        if unknown:
            raise CocodiffError(f"{source}: the deployment contract has unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**{name: values[name] for name in names})
        except CocodiffError as error:
            raise CocodiffError(f"{source}: {error}") from None

    # ---- ONNX metadata: one string per field, each JSON-encoded -------------------------------
    def to_metadata(self) -> dict[str, str]:
        return {name: json.dumps(value, sort_keys=True) for name, value in self.to_dict().items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], source: str) -> DeploymentContract:
        """The contract stored by `to_metadata` among a model file's metadata `props` (other keys
        are the file's own and ignored)."""
        if "contract_version" not in props:
            raise CocodiffError(f"{source}: carries no deployment contract (made before cocodiff recorded one, or "
                                "not by cocodiff); export it again from its checkpoint")
        names = [item.name for item in dataclasses.fields(cls)]
        values = {}
        for name in names:
            if name not in props:
                continue  # from_dict names every missing field at once
            try:
                values[name] = json.loads(props[name])
            except (TypeError, json.JSONDecodeError):
                raise CocodiffError(f"{source}: metadata field {name!r} is not valid JSON: "
                                    f"{str(props[name])[:60]!r}") from None
        return cls.from_dict(values, source)


# ---- checkpoints from before the contract ---------------------------------------------------------
FORMAT1_KEYS = ("classes", "layout", "in_channels", "num_persons", "window", "modality", "pre_normalize",
                "eval_crop_ratio", "backbone", "backbone_options", "dataset")
_MOTION_RANKED = ("ntu60", "ntu120")


def upgrade_format1(meta: Mapping[str, Any], *, fps: float, clip_seconds: float, source: str,
                    versions: Mapping[str, str]) -> DeploymentContract:
    """The contract of a format-1 checkpoint's `meta`. The rule:

    - every field format 1 had is taken as it is (`use_score` becomes `score_channel`; a missing
      `use_score` means false, as every format-1 reader assumed); any other missing field is an
      error, never a default;
    - `joints` are the layout's; `frame` is the Kinect camera frame for 3D data and the
      normalised image frame for 2D data, the only frames format 1 could be trained in (except
      for mediapipe33, which format 1 never read data in: refused);
    - `person_order` is `motion` for NTU RGB+D (its reader ranks bodies by motion), `confidence`
      for Kinetics, `recorded` for everything else;
    - `fps` and `clip_seconds` were never recorded: the caller supplies them (the upgrade
      command measures them on the checkpoint's training data, or takes them from its flags).
    """
    missing = [key for key in FORMAT1_KEYS if key not in meta]
    if missing:
        raise CocodiffError(f"{source}: its meta lacks {', '.join(missing)}: cannot tell how it was preprocessed")
    if meta["layout"] == "mediapipe33":
        raise CocodiffError(f"{source}: a format-1 mediapipe33 model does not say its coordinate frame")
    if not isinstance(meta["layout"], str):
        raise CocodiffError(f"{source}: its meta 'layout' is {meta['layout']!r}, not a layout name")
    score = meta.get("use_score", False)  # the contract's own checks judge every raw value below
    channels = meta["in_channels"] - (1 if score is True else 0) if type(meta["in_channels"]) is int else 3
    dataset = meta["dataset"]
    order = "motion" if dataset in _MOTION_RANKED else "confidence" if dataset == "kinetics" else "recorded"
    try:
        return DeploymentContract(
            classes=meta["classes"], layout=meta["layout"], joints=get_layout(meta["layout"]).joints,
            frame=default_frame(channels), window=meta["window"], num_persons=meta["num_persons"],
            person_order=order, modality=meta["modality"], in_channels=meta["in_channels"], score_channel=score,
            pre_normalize=meta["pre_normalize"], eval_crop_ratio=meta["eval_crop_ratio"], fps=fps,
            clip_seconds=clip_seconds, backbone=meta["backbone"], backbone_options=meta["backbone_options"],
            dataset=dataset, versions=dict(versions))
    except CocodiffError as error:
        raise CocodiffError(f"{source}: {error}") from None
