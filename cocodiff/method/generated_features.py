"""Real and generated features of a trained CoCoDiff run, and the numbers that describe them.

The auxiliary a run trained is rebuilt from its checkpoint (`trained_auxiliary`); chosen clips
go through the recogniser's encoder, and their features are noised and denoised by it
(`real_and_generated`). `feature_stats` measures both sets in feature units: the classifier's
top-1, distances to the real class centroids, per-class spread, and how far each generated
vector lies from the clip it came from. `python -m cocodiff.features` draws them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cocodiff.data.splits import evenly_spread
from cocodiff.errors import CocodiffError, first_line
from cocodiff.method.config import MethodConfig


def require_auxiliary(checkpoint: dict[str, Any], path: Path, method: MethodConfig | None = None) -> None:
    """Refuse a checkpoint trained without CoCoDiff (no auxiliary weights, or method.enabled false)."""
    if not checkpoint.get("auxiliary") or (method is not None and not method.enabled):
        raise CocodiffError(f"{path}: was trained without CoCoDiff (method.enabled false, no auxiliary weights); "
                            "there are no generated features to show")


def trained_auxiliary(checkpoint: dict[str, Any], path: Path, feature_dim: int, method: MethodConfig):
    """The CoCoDiff module the run trained (`method`: its config's method section), weights
    loaded strictly, in eval mode."""
    require_auxiliary(checkpoint, path, method)
    from cocodiff.data.layouts import get_layout
    from cocodiff.method.build import build_auxiliary

    contract = checkpoint["contract"]
    auxiliary = build_auxiliary(method, get_layout(contract.layout), feature_dim=feature_dim, classes=list(contract.classes),
                                dataset=contract.dataset)
    try:
        auxiliary.load_state_dict(checkpoint["auxiliary"], strict=True)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise CocodiffError(f"{path}: its auxiliary weights do not fit the method its config describes "
                            f"({first_line(error)})") from None
    return auxiliary.eval()


def per_class_subset(samples: list[dict[str, Any]], labels: Sequence[int], per_class: int) -> list[dict[str, Any]]:
    """Up to `per_class` clips of each label in `labels`, evenly spread over that class's clips,
    grouped by class in the order of `labels`."""
    by_label: dict[int, list[dict[str, Any]]] = {label: [] for label in labels}
    for sample in samples:
        if sample["label"] in by_label:
            by_label[sample["label"]].append(sample)
    return [group[i] for group in by_label.values() for i in evenly_spread(len(group), per_class)]


def real_and_generated(model, auxiliary, samples: list[dict[str, Any]], pipeline, *, device,
                       batch_size: int, start: int, steps: int, eta: float, draws: int,
                       seed: int) -> dict[str, np.ndarray]:
    """Pooled vectors and logits of the real clips and of `draws` generated features per clip.

    Generated rows are clip-major: clip i's draws are rows i * draws ... i * draws + draws - 1.
    """
    import torch
    from torch.utils.data import DataLoader

    from cocodiff.data.dataset import SkeletonDataset

    model = model.to(device).eval()
    auxiliary = auxiliary.to(device).eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    loader = DataLoader(SkeletonDataset(samples, pipeline), batch_size=batch_size, shuffle=False)
    real, real_logits, generated, generated_logits = [], [], [], []
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            features = model.encoder.forward_features(x)
            pooled = auxiliary.latent.pool(auxiliary.latent(features))
            real.append(pooled)
            real_logits.append(model.classifier.head(pooled))
            made = torch.stack([auxiliary.latent.pool(auxiliary.generate(features, y, start=start, steps=steps,
                                                                         eta=eta, generator=generator))
                                for _ in range(draws)], dim=1).flatten(0, 1)  # (N * draws, C'), clip-major
            generated.append(made)
            generated_logits.append(model.classifier.head(made))
    as_numpy = lambda parts: torch.cat(parts).double().cpu().numpy()  # noqa: E731
    return {"real": as_numpy(real), "real_logits": as_numpy(real_logits),
            "generated": as_numpy(generated), "generated_logits": as_numpy(generated_logits)}


def rounded(value: float | None, digits: int = 4) -> float | None:
    """A JSON-friendly number: None for missing or non-finite values."""
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def feature_stats(real: np.ndarray, real_labels: np.ndarray, real_logits: np.ndarray, generated: np.ndarray,
                  generated_labels: np.ndarray, generated_logits: np.ndarray, source: np.ndarray,
                  shown: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    """The numbers that go with the picture (see the module docstring), per set and per class."""
    centroids = np.stack([real[real_labels == c].mean(axis=0) for c in shown])  # (S, C'), shown order
    position = {c: i for i, c in enumerate(shown)}

    def distances(points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        to_all = np.linalg.norm(points[:, None, :] - centroids[None, :, :], axis=2)  # (N, S)
        own_index = np.array([position[int(label)] for label in labels])
        own = to_all[np.arange(len(points)), own_index]
        others = to_all.copy()
        others[np.arange(len(points)), own_index] = np.inf
        other = others.min(axis=1) if len(shown) > 1 else np.full(len(points), np.nan)
        nearest = to_all.argmin(axis=1) == own_index
        return own, other, nearest

    def spread(points: np.ndarray, labels: np.ndarray, c: int) -> float | None:
        group = points[labels == c]
        if len(group) < 2:
            return None
        return float(np.sqrt(np.mean(np.sum((group - group.mean(axis=0)) ** 2, axis=1))))

    def summary(points, labels, logits, extra=None) -> dict[str, Any]:
        own, other, nearest = distances(points, labels)
        spreads = [s for s in (spread(points, labels, c) for c in shown) if s is not None]
        result = {
            "N": int(len(points)),
            "top1": rounded(100.0 * float(np.mean(logits.argmax(axis=1) == labels))),
            "to_own_centroid": rounded(own.mean()),
            "to_nearest_other_centroid": rounded(np.mean(other)) if len(shown) > 1 else None,
            "nearest_centroid_is_own": rounded(100.0 * float(np.mean(nearest))) if len(shown) > 1 else None,
            "spread": rounded(np.mean(spreads)) if spreads else None,
        }
        result.update(extra or {})
        return result, own, other

    drift = np.linalg.norm(generated - real[source], axis=1)
    real_summary, real_own, real_other = summary(real, real_labels, real_logits)
    generated_summary, gen_own, gen_other = summary(generated, generated_labels, generated_logits,
                                                    {"to_source_clip": rounded(drift.mean())})
    per_class = []
    for c in shown:
        r, g = real_labels == c, generated_labels == c
        per_class.append({
            "label": int(c), "name": str(names[c]), "real": int(r.sum()), "generated": int(g.sum()),
            "real_top1": rounded(100.0 * float(np.mean(real_logits[r].argmax(axis=1) == c))),
            "generated_top1": rounded(100.0 * float(np.mean(generated_logits[g].argmax(axis=1) == c))),
            "real_spread": rounded(spread(real, real_labels, c)),
            "generated_spread": rounded(spread(generated, generated_labels, c)),
            "generated_to_own_centroid": rounded(gen_own[g].mean()),
            "generated_to_nearest_other_centroid": rounded(np.mean(gen_other[g])) if len(shown) > 1 else None,
        })
    return {"real": real_summary, "generated": generated_summary, "per_class": per_class}


def feature_space_lines(stats: dict[str, Any]) -> list[str]:
    """`feature_stats` for the terminal: one line for the real set, one for the generated."""
    def number(value, unit="", spec=".3f"):
        return "n/a" if value is None else f"{value:{spec}}{unit}"

    lines = []
    for key, name in (("real", "real     "), ("generated", "generated")):
        s = stats[key]
        line = (f"{name} {s['N']:5d} points: top-1 {number(s['top1'], '%', '.1f')}, to own centroid "
                f"{number(s['to_own_centroid'])} vs nearest other {number(s['to_nearest_other_centroid'])} "
                f"(own nearest {number(s['nearest_centroid_is_own'], '%', '.1f')}), spread {number(s['spread'])}")
        if key == "generated":
            line += f", from its clip {number(s['to_source_clip'])}"
        lines.append(line)
    return lines
