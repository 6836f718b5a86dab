"""The clips of one split, to evaluate a model on or to check an export with.

`load_split` reads a split of the embedded dataset or of an annotation file and checks that its
clips fit the model's deployment contract: labelled, with the model's coordinates and classes.
Clips of another layout or coordinate frame are retargeted on the way in (`EvalSplit.pipeline`)
where a retargeting exists; clips of another class list are relabelled by a `ClassMap`.
`checkpoint_data` says which data and split a checkpoint was validated on (its saved training
config), so commands can default to it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cocodiff.errors import CocodiffError, DataError

if TYPE_CHECKING:
    from cocodiff.contract import DeploymentContract
    from cocodiff.data.class_map import ClassMap
    from cocodiff.data.pipelines import InferencePipeline, SkeletonSource

EMBEDDED = "embedded"


@dataclass
class EvalSplit:
    """The clips to evaluate, and what their source says about itself."""

    samples: list[dict[str, Any]]
    source: str  # for messages: the file, or "embedded dataset"
    classes: list[str] | None  # the source's class names, if it names them
    dataset: str  # "embedded" or the resolved file path (recorded in metrics.json)
    skeleton: SkeletonSource | None = None  # the clips' layout and frame, where they differ from the model's
    class_map: ClassMap | None = None  # applied: labels are the model's, `source_class` the data's

    def pipeline(self, contract: DeploymentContract) -> InferencePipeline:
        """The model's evaluation preprocessing for these clips, retargeting them if need be."""
        from cocodiff.data.pipelines import InferencePipeline

        return InferencePipeline(contract, self.skeleton)


def evenly_spread(total: int, count: int | None) -> list[int]:
    """`count` distinct indices spread evenly over range(total) (all of them if count is None)."""
    if count is None or count >= total:
        return list(range(total))
    return [(i * total) // count for i in range(count)]


def embedded_split(split: str, seed: int, limit: int | None) -> EvalSplit:
    """One split of the embedded dataset, in `embedded_annotations` order, generating only the
    clips that are kept."""
    from cocodiff.data.embedded import CLASSES, EmbeddedConfig, embedded_clip
    from cocodiff.data.embedded.dataset import SPLITS
    from cocodiff.data.sample import validate_sample

    if split not in SPLITS:
        raise CocodiffError(f"embedded dataset: no split {split!r}; it has {', '.join(SPLITS)}")
    config = EmbeddedConfig(seed=seed)
    per_class = config.per_class(split)
    keep = evenly_spread(per_class * len(CLASSES), limit)
    samples = [validate_sample(embedded_clip(config, split, i // per_class, i % per_class).sample, "embedded dataset")
               for i in keep]
    return EvalSplit(samples, "embedded dataset", list(CLASSES), EMBEDDED)


def file_split(path: Path, split: str, contract: DeploymentContract, limit: int | None,
               class_map: ClassMap | None = None) -> EvalSplit:
    """One split of an annotation file. Clips of another layout or coordinate frame than the
    model's are retargeted where a retargeting exists, else refused."""
    from cocodiff.data.annotations import file_frame, load_annotations, split_samples
    from cocodiff.data.layouts import get_layout
    from cocodiff.data.pipelines import SkeletonSource
    from cocodiff.data.retarget import retargeting

    content = load_annotations(path)
    own = content["meta"].get("layout") or contract.layout
    frame = file_frame(content, path, contract.coordinates) if "frame" in content["meta"] else contract.frame
    if frame.dims != contract.frame.dims:
        raise DataError(path, f"holds {frame.dims}D clips ({frame.describe()}), the model takes {contract.frame.dims}D")
    skeleton = None
    if (own, frame) != (contract.layout, contract.frame):
        try:
            retargeting(own, contract.layout)
        except CocodiffError:
            raise DataError(path, f"holds layout {own!r}, the model was trained on {contract.layout!r}, and no "
                                  "retargeting between them exists") from None
        skeleton = SkeletonSource(own, frame)
    samples = split_samples(content, split, path, get_layout(own))
    classes = content["meta"].get("classes")
    classes = None if classes is None else [str(c) for c in classes]
    if class_map is not None:
        if classes is None:
            raise DataError(path, "names no classes (meta 'classes'), so --class-map cannot be matched to it")
        samples = class_map.apply(samples, classes, contract.classes)
        if not samples:
            raise DataError(path, f"split {split!r} has no clip of a class in {class_map.source}")
    kept = [samples[i] for i in evenly_spread(len(samples), limit)]
    return EvalSplit(kept, str(path), classes, str(path.resolve()), skeleton, class_map)


def load_split(data: str, split: str, checkpoint: dict[str, Any], limit: int | None = None,
               from_config: bool = False, class_map: ClassMap | None = None) -> EvalSplit:
    """Split `split` of `data` (a file or "embedded"), checked against the checkpoint's contract.
    `from_config`: the data was taken from the checkpoint's config rather than named by the user.
    `class_map`: relabel the data's classes as the model's (files only)."""
    contract: DeploymentContract = checkpoint["contract"]
    if data == EMBEDDED:
        if contract.layout != "ntu25":
            raise CocodiffError(f"the embedded dataset is ntu25, but the model was trained on layout "
                                f"{contract.layout!r}")
        if class_map is not None:
            raise CocodiffError("--class-map applies to annotation files; the embedded dataset has the model's classes")
        seed = (checkpoint.get("config") or {}).get("data", {}).get("embedded_seed", 0)
        result = embedded_split(split, int(seed), limit)
    else:
        path = Path(data)
        if from_config and not path.exists():
            raise CocodiffError(f"{path}: the checkpoint's own dataset is not here; name the data with --data FILE")
        result = file_split(path, split, contract, limit, class_map)
    check_compatible(result, split, contract)
    return result


def check_compatible(data: EvalSplit, split: str, contract: DeploymentContract) -> None:
    """The clips fit the model: labelled, same coordinates, same classes."""
    if not data.samples:
        raise DataError(data.source, f"split {split!r} is empty")
    unlabelled = next((s for s in data.samples if "label" not in s), None)
    if unlabelled is not None:
        raise DataError(data.source, f"sample {unlabelled.get('frame_dir')!r} has no 'label': cannot score it")
    channels = sorted({s["keypoint"].shape[-1] for s in data.samples})
    if channels != [contract.coordinates]:
        raise DataError(data.source, f"clips have {'/'.join(map(str, channels))} coordinates per joint, the model "
                                     f"expects {contract.coordinates}")
    classes = list(contract.classes)
    if data.class_map is not None:
        return  # labels were set from the model's class names
    if data.classes is not None and len(data.classes) != len(classes):
        raise DataError(data.source, f"names {len(data.classes)} classes, the model has {len(classes)}")
    highest = max(s["label"] for s in data.samples)
    if highest >= len(classes):
        raise DataError(data.source, f"label {highest} is beyond the model's {len(classes)} classes")
    if data.classes is not None and list(data.classes) != classes:
        differ = next(i for i, (a, b) in enumerate(zip(data.classes, classes)) if a != b)
        print(f"note: class names differ from the model's (class {differ}: {data.classes[differ]!r} here, "
              f"{classes[differ]!r} there); reporting the model's names", file=sys.stderr)


def checkpoint_data(checkpoint: dict[str, Any], source, data: str | None, split: str | None) -> tuple[str, str]:
    """The data and split to use: those given, else the ones the checkpoint trained with."""
    saved = (checkpoint.get("config") or {}).get("data") or {}
    data, split = data or saved.get("dataset"), split or saved.get("val_split")
    if data is None or split is None:
        raise CocodiffError(f"{source}: carries no training config to take the data from; "
                            "pass --data FILE (or embedded) and --split NAME")
    return str(data), str(split)
