"""Picture what CoCoDiff generates: real and generated features of a trained run, in 2-D.

    python -m cocodiff.features runs/embedded_cocodiff/best.pt            # its own val split, PCA
    python -m cocodiff.features best.pt --method tsne --start 200 --samples 3 --out drift.png
    python -m cocodiff.features best.pt --data data/ntu60.pkl --split xsub_val --classes "drink water,sit down"

The checkpoint must come from a run trained with the method (`method.enabled: true`): its
auxiliary is rebuilt from the saved config and contract and loaded strictly. Up to `--per-class`
clips of each shown class go through the checkpoint's evaluation preprocessing and the
recogniser's encoder (eval mode); each clip's features are noised to `--start` (default
t_max - 1, the strongest noise training used) and denoised in `--steps` steps, `--samples` times,
conditioned on the clip's own class, with a seeded generator.

Every point is the classifier's pooled vector (`latent.pool`): dots for real clips, crosses for
generated ones, one colour per class. `--method pca` fits the axes on the real points alone (so
generated points are placed in the real features' frame); `--method tsne` embeds both together
(needs scikit-learn). `--classes` picks the classes shown, the first N (default 10) or names.

The numbers beside the picture describe exactly its points, in feature units (C'-dimensional,
before projection): the classifier's top-1 on real and on generated vectors (K-way, all classes'
logits); the mean distance of each point to its own class's real centroid and to the nearest
other shown class's real centroid; how often that own centroid is the nearest one; the average
per-class spread (RMS distance to the set's own class mean); and how far each generated vector
lies from the real clip it was made from. They are printed and written to OUT with .json.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cocodiff.atomic import atomic_write_bytes, atomic_write_text
from cocodiff.checkpoint import load_recognizer
from cocodiff.cli import run_cli
from cocodiff.data.splits import EMBEDDED, checkpoint_data, evenly_spread, load_split
from cocodiff.device import prepare_device
from cocodiff.errors import CocodiffError, first_line
from cocodiff.hashing import sha256_of

DEFAULT_CLASSES = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.features", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint of a run trained with method.enabled: true")
    parser.add_argument("--data", default=None,
                        help="annotation .pkl file, or 'embedded' (default: the checkpoint's own dataset)")
    parser.add_argument("--split", default=None, help="split name (default: the checkpoint config's val split)")
    parser.add_argument("--per-class", type=int, default=40, help="clips per class, at most (default 40)")
    parser.add_argument("--classes", default=str(DEFAULT_CLASSES),
                        help="classes shown: the first N, 'all', or comma-separated names (default 10)")
    parser.add_argument("--method", choices=("pca", "tsne"), default="pca",
                        help="2-D projection: pca (fitted on the real points) or tsne (both; needs scikit-learn)")
    parser.add_argument("--start", type=int, default=None,
                        help="noise level the real features are noised to (default: the run's method.t_max - 1)")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps (default 10)")
    parser.add_argument("--eta", type=float, default=1.0, help="1 = DDPM sampling (diverse), 0 = DDIM (default 1)")
    parser.add_argument("--samples", type=int, default=1, help="generated draws per clip (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generation noise and of t-SNE (default 0)")
    parser.add_argument("--out", type=Path, default=Path("features.png"),
                        help="the figure, a .png (default features.png); the numbers go to the same name .json")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = the idle cores (default)")
    return parser


# ---- projections ------------------------------------------------------------------------------
def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), components (k, D), explained variance ratio (k,)) of the rows of `x`.

    Components are the top right singular vectors of the centred data, each signed so that its
    largest-magnitude entry is positive (deterministic); missing ones (rank < k) are zero.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"pca needs a non-empty (N, D) matrix, got shape {x.shape}")
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = np.zeros((k, x.shape[1]))
    ratio = np.zeros(k)
    total = float(np.sum(singular ** 2))
    for i in range(min(k, len(singular))):
        if singular[i] <= 1e-12 * max(singular[0], 1e-300):
            break
        vector = vt[i]
        components[i] = vector * np.sign(vector[np.argmax(np.abs(vector))])
        ratio[i] = singular[i] ** 2 / total
    return mean, components, ratio


def tsne(x: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE of the rows of `x` (scikit-learn's)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        message = "--method tsne needs scikit-learn: pip install scikit-learn (or use --method pca)"
        raise CocodiffError(message) from None
    n = len(x)
    if n < 4:
        raise CocodiffError(f"--method tsne needs at least 4 points, got {n}; use --method pca")
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    embedding = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return embedding.fit_transform(np.asarray(x, dtype=np.float64))


# ---- the checkpoint's auxiliary ------------------------------------------------------------------
def load_auxiliary(checkpoint: dict[str, Any], path: Path, feature_dim: int):
    """The CoCoDiff module the run trained, weights loaded strictly, in eval mode."""
    config = checkpoint.get("config") or {}
    if not checkpoint.get("auxiliary") or not (config.get("method") or {}).get("enabled"):
        raise CocodiffError(f"{path}: was trained without CoCoDiff (method.enabled false, no auxiliary weights); "
                            "there are no generated features to show")
    from cocodiff.config import load_config
    from cocodiff.data.layouts import get_layout
    from cocodiff.method.build import build_auxiliary

    method = load_config(base=config).method
    contract = checkpoint["contract"]
    auxiliary = build_auxiliary(method, get_layout(contract.layout), feature_dim=feature_dim, classes=list(contract.classes),
                                dataset=contract.dataset)
    try:
        auxiliary.load_state_dict(checkpoint["auxiliary"], strict=True)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise CocodiffError(f"{path}: its auxiliary weights do not fit the method its config describes "
                            f"({first_line(error)})") from None
    return auxiliary.eval()


# ---- which clips ----------------------------------------------------------------------------------
def choose_classes(spec: str, classes: Sequence[str]) -> list[int]:
    """Label indices shown: the first N, 'all', or comma-separated class names (in the given order)."""
    spec = spec.strip()
    if spec.lower() == "all":
        return list(range(len(classes)))
    if spec.isdigit():
        count = int(spec)
        if count < 1:
            raise CocodiffError("--classes N must be at least 1")
        return list(range(min(count, len(classes))))
    names = [name.strip() for name in spec.split(",") if name.strip()]
    index = {str(name): i for i, name in enumerate(classes)}
    unknown = [name for name in names if name not in index]
    if unknown or not names:
        shown = ", ".join(map(str, classes[:8])) + (", ..." if len(classes) > 8 else "")
        raise CocodiffError(f"--classes: no class named {', '.join(map(repr, unknown)) or repr(spec)}; "
                            f"the checkpoint's classes are {shown}")
    return list(dict.fromkeys(index[name] for name in names))


def per_class_subset(samples: list[dict[str, Any]], labels: Sequence[int], per_class: int) -> list[dict[str, Any]]:
    """Up to `per_class` clips of each label in `labels`, evenly spread over that class's clips,
    grouped by class in the order of `labels`."""
    by_label: dict[int, list[dict[str, Any]]] = {label: [] for label in labels}
    for sample in samples:
        if sample["label"] in by_label:
            by_label[sample["label"]].append(sample)
    return [group[i] for group in by_label.values() for i in evenly_spread(len(group), per_class)]


# ---- features ------------------------------------------------------------------------------------
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


def _rounded(value: float | None, digits: int = 4) -> float | None:
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
            "top1": _rounded(100.0 * float(np.mean(logits.argmax(axis=1) == labels))),
            "to_own_centroid": _rounded(own.mean()),
            "to_nearest_other_centroid": _rounded(np.mean(other)) if len(shown) > 1 else None,
            "nearest_centroid_is_own": _rounded(100.0 * float(np.mean(nearest))) if len(shown) > 1 else None,
            "spread": _rounded(np.mean(spreads)) if spreads else None,
        }
        result.update(extra or {})
        return result, own, other

    drift = np.linalg.norm(generated - real[source], axis=1)
    real_summary, real_own, real_other = summary(real, real_labels, real_logits)
    generated_summary, gen_own, gen_other = summary(generated, generated_labels, generated_logits,
                                                    {"to_source_clip": _rounded(drift.mean())})
    per_class = []
    for c in shown:
        r, g = real_labels == c, generated_labels == c
        per_class.append({
            "label": int(c), "name": str(names[c]), "real": int(r.sum()), "generated": int(g.sum()),
            "real_top1": _rounded(100.0 * float(np.mean(real_logits[r].argmax(axis=1) == c))),
            "generated_top1": _rounded(100.0 * float(np.mean(generated_logits[g].argmax(axis=1) == c))),
            "real_spread": _rounded(spread(real, real_labels, c)),
            "generated_spread": _rounded(spread(generated, generated_labels, c)),
            "generated_to_own_centroid": _rounded(gen_own[g].mean()),
            "generated_to_nearest_other_centroid": _rounded(np.mean(gen_other[g])) if len(shown) > 1 else None,
        })
    return {"real": real_summary, "generated": generated_summary, "per_class": per_class}


# ---- the figure -----------------------------------------------------------------------------------
def class_colours(count: int) -> list:
    import matplotlib

    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(count)]
    return [matplotlib.colormaps["turbo"](i / max(count - 1, 1)) for i in range(count)]


def render(real_2d: np.ndarray, real_labels: np.ndarray, generated_2d: np.ndarray, generated_labels: np.ndarray,
           shown: Sequence[int], names: Sequence[str], title: str, axis_labels: tuple[str, str]) -> bytes:
    """The scatter as PNG bytes: colour = class, dots = real, crosses = generated."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    colours = class_colours(len(shown))
    figure = Figure(figsize=(10.5, 7.0), layout="constrained")
    axes = figure.add_subplot()
    handles = []
    for colour, c in zip(colours, shown):
        r, g = real_labels == c, generated_labels == c
        axes.scatter(real_2d[r, 0], real_2d[r, 1], s=18, marker="o", color=colour, alpha=0.75, linewidths=0)
        axes.scatter(generated_2d[g, 0], generated_2d[g, 1], s=26, marker="x", color=colour, alpha=0.9,
                     linewidths=1.1)
        label = names[c] if len(names[c]) <= 32 else names[c][:31] + "…"
        handles.append(Line2D([], [], linestyle="", marker="s", markersize=8, color=colour, label=label))
    handles += [Line2D([], [], linestyle="", marker="o", markersize=6, color="0.35", label="real (dot)"),
                Line2D([], [], linestyle="", marker="x", markersize=7, color="0.35", label="generated (cross)")]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                ncols=1 if len(handles) <= 32 else 2)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.25)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def summary_lines(stats: dict[str, Any]) -> list[str]:
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


# ---- the command --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.per_class < 1 or args.samples < 1 or args.steps < 1 or args.batch_size < 1 or args.threads < 0:
        raise CocodiffError("--per-class, --samples, --steps and --batch-size must be at least 1, --threads at least 0")
    if not 0 <= args.eta <= 1:
        raise CocodiffError(f"--eta {args.eta}: must be in [0, 1]")
    if args.out.suffix.lower() != ".png":
        raise CocodiffError(f"--out {args.out}: the figure is a PNG, name it *.png")
    checkpoint, model = load_recognizer(args.checkpoint)
    auxiliary = load_auxiliary(checkpoint, args.checkpoint, model.encoder.out_channels)
    contract = checkpoint["contract"]
    classes = list(contract.classes)
    method_config = auxiliary.config
    start = method_config.t_max - 1 if args.start is None else args.start
    if not 0 <= start < method_config.num_steps:
        raise CocodiffError(f"--start {start}: must be in 0..{method_config.num_steps - 1} (the run's "
                            f"method.num_steps; it trained with t < {method_config.t_max})")
    shown = choose_classes(args.classes, classes)
    data, split = checkpoint_data(checkpoint, args.checkpoint, args.data, args.split)
    device = prepare_device(args.device, args.threads)
    # The embedded split is class-major with equal classes, so an even spread of per-class x K
    # clips is per-class clips of every class: only those are generated.
    limit = args.per_class * len(classes) if str(data) == EMBEDDED else None
    evaluation = load_split(str(data), str(split), checkpoint, limit, from_config=args.data is None)
    samples = per_class_subset(evaluation.samples, shown, args.per_class)
    present = sorted({s["label"] for s in samples}, key=shown.index)
    if len(samples) < 2:
        raise CocodiffError(f"{evaluation.source}, split {split}: {len(samples)} clip(s) of the chosen classes; "
                            "need at least 2 (raise --per-class or --classes)")
    missing = [classes[c] for c in shown if c not in present]
    if missing:
        print(f"note: no clips of {', '.join(missing)} in split {split}", file=sys.stderr)
    shown = present
    print(f"features of {args.checkpoint} ({contract.backbone}, latent {method_config.latent}) on {evaluation.source}, "
          f"split {split}: {len(samples)} clips of {len(shown)} classes, {args.samples} generated each "
          f"(start t={start}, {args.steps} steps, eta {args.eta:g}, seed {args.seed}); {device}")

    began = time.perf_counter()
    vectors = real_and_generated(model, auxiliary, samples, evaluation.pipeline(contract), device=device, batch_size=args.batch_size,
                                 start=start, steps=args.steps, eta=args.eta, draws=args.samples, seed=args.seed)
    feature_seconds = time.perf_counter() - began
    real_labels = np.array([s["label"] for s in samples], dtype=np.int64)
    source = np.repeat(np.arange(len(samples)), args.samples)
    generated_labels = real_labels[source]
    stats = feature_stats(vectors["real"], real_labels, vectors["real_logits"], vectors["generated"],
                          generated_labels, vectors["generated_logits"], source, shown, classes)

    began = time.perf_counter()
    if args.method == "pca":
        mean, components, ratio = pca(vectors["real"])
        real_2d = (vectors["real"] - mean) @ components.T
        generated_2d = (vectors["generated"] - mean) @ components.T
        axis_labels = (f"PC1 of the real features ({100 * ratio[0]:.1f}% of their variance)",
                       f"PC2 ({100 * ratio[1]:.1f}%)")
        projection = {"method": "pca", "fitted_on": "real", "explained_variance_ratio": [_rounded(r) for r in ratio]}
    else:
        both = tsne(np.concatenate([vectors["real"], vectors["generated"]]), args.seed)
        real_2d, generated_2d = both[:len(samples)], both[len(samples):]
        axis_labels = ("t-SNE 1", "t-SNE 2")
        projection = {"method": "tsne", "fitted_on": "real and generated", "seed": args.seed}
    projection_seconds = time.perf_counter() - began

    real_top1, generated_top1 = stats["real"]["top1"], stats["generated"]["top1"]
    projection_name = {"pca": "PCA", "tsne": "t-SNE"}[args.method]
    title = (f"{args.checkpoint.parent.name}/{args.checkpoint.name}: {projection_name} of pooled features, "
             f"{Path(evaluation.dataset).name} {split}\nreal (dots) top-1 {real_top1:.1f}%, generated (crosses, "
             f"start t={start}, {args.steps} steps, eta {args.eta:g}) top-1 {generated_top1:.1f}%")
    image = render(real_2d, real_labels, generated_2d, generated_labels, shown, classes, title, axis_labels)
    report = {
        "checkpoint": str(args.checkpoint.resolve()), "checkpoint_sha256": sha256_of(args.checkpoint),
        "data": evaluation.dataset, "split": str(split), "projection": projection,
        "start": start, "steps": args.steps, "eta": args.eta, "samples": args.samples, "seed": args.seed,
        "per_class_limit": args.per_class, "t_max": method_config.t_max, "num_steps": method_config.num_steps,
        "latent": method_config.latent, "classes": [classes[c] for c in shown], "units": "feature (pooled, C')",
        "feature_dim": int(vectors["real"].shape[1]),
        "real": stats["real"], "generated": stats["generated"], "per_class": stats["per_class"],
    }
    numbers = args.out.with_suffix(".json")
    try:
        atomic_write_bytes(args.out, image)
        atomic_write_text(numbers, json.dumps(report, indent=2) + "\n")
    except OSError as error:
        raise CocodiffError(f"{args.out}: cannot write the figure ({error.strerror or error}); "
                            "choose another place with --out") from None
    for line in summary_lines(stats):
        print(line)
    print(f"features {feature_seconds:.1f}s, {args.method} {projection_seconds:.1f}s; wrote {args.out}, {numbers}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
