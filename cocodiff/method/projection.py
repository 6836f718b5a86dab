"""Two-dimensional pictures of feature vectors: PCA (deterministic signs) and t-SNE."""

from __future__ import annotations

import numpy as np

from cocodiff.errors import CocodiffError


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


def project_both(real: np.ndarray, generated: np.ndarray, method: str, seed: int = 0):
    """Real and generated rows in 2-D: (real_2d, generated_2d, axis labels, a description).

    "pca" fits the axes on the real rows alone, so generated rows are placed in the real
    features' frame; "tsne" embeds both together."""
    if method == "pca":
        mean, components, ratio = pca(real)
        labels = (f"PC1 of the real features ({100 * ratio[0]:.1f}% of their variance)", f"PC2 ({100 * ratio[1]:.1f}%)")
        about = {"method": "pca", "fitted_on": "real", "explained_variance_ratio": [round(float(r), 4) for r in ratio]}
        return (real - mean) @ components.T, (generated - mean) @ components.T, labels, about
    if method == "tsne":
        both = tsne(np.concatenate([real, generated]), seed)
        about = {"method": "tsne", "fitted_on": "real and generated", "seed": seed}
        return both[:len(real)], both[len(real):], ("t-SNE 1", "t-SNE 2"), about
    raise ValueError(f"unknown projection {method!r}; pca or tsne")
