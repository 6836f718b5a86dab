"""The controls' offsets: Gaussian at a set drift; class covariance shaped like each class's spread."""

from __future__ import annotations

import pytest
import torch

from cocodiff.method.feature_noise import ClassCovariance, gaussian_offset


def test_gaussian_offset_has_the_set_rms():
    torch.manual_seed(0)
    offset = gaussian_offset(torch.zeros(4000, 8), 0.3)
    assert offset.pow(2).mean().sqrt().item() == pytest.approx(0.3, rel=0.02)


def class_samples(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 varies along channel 0 only; class 1 along the diagonal of channels 1 and 2."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    u = torch.randn(n, generator=g)
    x = torch.zeros(n, 3)
    x[labels == 0, 0] = 2.0 * u[labels == 0] + 1.0
    x[labels == 1, 1] = u[labels == 1]
    x[labels == 1, 2] = u[labels == 1]
    return x, labels


def test_class_covariance_follows_each_class_and_moves_only_along_its_spread():
    moments = ClassCovariance(num_classes=3, channels=3)
    for seed in range(200):
        moments.update(*class_samples(16, seed))
    cov = moments.covariance(torch.tensor([0, 1]))
    torch.testing.assert_close(cov[0], torch.diag(torch.tensor([4.0, 0, 0])), atol=0.6, rtol=0)
    torch.testing.assert_close(cov[1], torch.tensor([[0, 0, 0], [0, 1.0, 1.0], [0, 1.0, 1.0]]), atol=0.25, rtol=0)
    assert moments.seen.tolist() == [1600, 1600, 0]

    torch.manual_seed(1)
    labels = torch.tensor([0, 1] * 2000)
    offset = moments.offset(labels, drift=0.5)
    zero, one = offset[labels == 0], offset[labels == 1]
    assert zero[:, 1:].abs().max() < 1e-3 * zero[:, 0].abs().max()  # class 0 moves along channel 0
    torch.testing.assert_close(one[:, 1], one[:, 2], atol=1e-3 * one.abs().max(), rtol=0)
    assert offset.pow(2).mean().sqrt().item() == pytest.approx(0.5, rel=0.05)


def test_an_unseen_class_does_not_move():
    moments = ClassCovariance(num_classes=2, channels=4)
    assert moments.offset(torch.tensor([0, 1]), drift=0.5).abs().max() == 0
