"""The generator diagnostics' measures, on point clouds whose answers are known."""

from __future__ import annotations

import pytest
import torch

from cocodiff.method.feature_metrics import class_geometry, knn_precision_recall, probe_accuracy


def two_classes(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    return centres[labels] + torch.randn(n, 2, generator=g), labels


def test_geometry_of_copies_shrunk_and_moved_features():
    real, labels = two_classes()
    same = class_geometry(real, real, labels, 2)
    assert same["drift"] == 0 and same["generated_to_real_centre"] == pytest.approx(1.0)
    assert same["real_radius"] == pytest.approx((torch.pi / 2) ** 0.5, rel=0.15)  # E|N(0, I_2)|
    centres = torch.stack([real[labels == k].mean(0) for k in (0, 1)])
    # prototypes: every generated vector at its class centre, the tight clusters the audit found
    collapsed = class_geometry(real, centres[labels], labels, 2)
    assert collapsed["generated_spread"] == pytest.approx(0.0, abs=1e-4)
    assert collapsed["generated_to_real_centre"] == pytest.approx(0.0, abs=1e-4)
    assert collapsed["drift"] == pytest.approx(1.0, rel=1e-5)
    shifted = class_geometry(real, real + torch.tensor([3.0, 0.0]), labels, 2)
    assert shifted["drift"] == pytest.approx(3.0 / same["real_radius"], rel=1e-5)
    assert shifted["generated_spread"] == pytest.approx(1.0, rel=1e-5)


def test_knn_precision_and_recall_tell_fidelity_from_coverage():
    real, labels = two_classes()
    other, _ = two_classes(seed=1)
    precision, recall = knn_precision_recall(real, other, labels)
    assert precision > 0.85 and recall > 0.85  # the same distribution: both high
    centres = torch.stack([real[labels == k].mean(0) for k in (0, 1)])
    tight = centres[labels] + 0.05 * torch.randn(len(labels), 2, generator=torch.Generator().manual_seed(2))
    precision, recall = knn_precision_recall(real, tight, labels)
    assert precision > 0.95 and recall < 0.3  # faithful but narrow: the collapse the audit saw
    far = real + torch.tensor([0.0, 8.0])
    precision, recall = knn_precision_recall(real, far, labels)
    assert precision < 0.05 and recall < 0.05
    with pytest.raises(ValueError, match="at most k=3"):
        knn_precision_recall(real[:4], real[:4], labels[:4])


def test_a_probe_fitted_on_real_features_judges_others():
    real, labels = two_classes()
    held_out, held_labels = two_classes(seed=3)
    swapped = held_out.flip(0)  # vectors of one class labelled as the other
    scores = probe_accuracy(real, labels, {"held_out": (held_out, held_labels), "swapped": (swapped, held_labels)},
                            num_classes=2)
    assert scores["held_out"] > 99 and scores["swapped"] < 1
