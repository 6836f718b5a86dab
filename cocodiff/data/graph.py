"""Adjacency matrices built from a layout's skeleton tree.

The spatial partition is the one ST-GCN and CTR-GCN use: three subsets, "self" (identity),
"inward" (edges pointing from a joint towards the root) and "outward" (the reverse). An entry
`A[k, i, j]` is the weight with which joint j sends its features to joint i in subset k. The
directed subsets are normalised over each *sender's* out-degree (columns sum to 1), as in the
published CTR-GCN code, so a checkpoint's adjacency parameters mean the same thing here.
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.layouts import Layout

SUBSETS = ("self", "inward", "outward")


def edge_matrix(edges: tuple[tuple[int, int], ...] | list[tuple[int, int]], num_joints: int) -> np.ndarray:
    """A binary (V, V) matrix with `A[receiver, sender] = 1` for each (sender, receiver) edge."""
    matrix = np.zeros((num_joints, num_joints), dtype=np.float32)
    for sender, receiver in edges:
        matrix[receiver, sender] = 1.0
    return matrix


def normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """Divide every column by its sum; all-zero columns stay zero."""
    degree = matrix.sum(axis=0)
    scale = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    return (matrix * scale[None, :]).astype(np.float32)


def spatial_adjacency(layout: Layout) -> np.ndarray:
    """The (3, V, V) self / inward / outward adjacency for `layout`."""
    inward = list(layout.bones)  # (child, parent): towards the root
    outward = [(parent, child) for child, parent in inward]
    num_joints = layout.num_joints
    return np.stack(
        [
            np.eye(num_joints, dtype=np.float32),
            normalize_columns(edge_matrix(inward, num_joints)),
            normalize_columns(edge_matrix(outward, num_joints)),
        ]
    )
