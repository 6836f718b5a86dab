"""The latent's units: per-channel z-scores (or one RMS), set once, then an EMA; eval never moves them."""

from __future__ import annotations

import pytest
import torch

from cocodiff.method.standardise import Standardiser


def latents(seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    channels = torch.tensor([0.1, 1.0, 10.0])  # very different spreads, as post-ReLU features have
    return (torch.randn(8, 4, 6, 3, generator=g) * channels + torch.tensor([5.0, 0.0, -2.0])) * scale + shift


def test_channel_statistics_are_set_once_then_follow_an_ema():
    s = Standardiser(3)
    assert (s.std == 0).all() and set(s.state_dict()) == {"mean", "std"}
    a, b = latents(0), latents(1, shift=1.0, scale=2.0)
    flat_a, flat_b = a.reshape(-1, 3), b.reshape(-1, 3)
    s.update(a)
    torch.testing.assert_close(s.mean, flat_a.mean(0))
    torch.testing.assert_close(s.std, flat_a.std(0, unbiased=False))
    z = s(a)
    torch.testing.assert_close(z.reshape(-1, 3).mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.reshape(-1, 3).std(0, unbiased=False), torch.ones(3), atol=1e-5, rtol=0)
    first_mean = s.mean.clone()
    s.update(b)
    torch.testing.assert_close(s.mean, first_mean + 0.01 * (flat_b.mean(0) - first_mean))
    torch.testing.assert_close(s.inverse(s(b)), b, rtol=1e-5, atol=1e-4)


def test_global_is_one_rms_without_centring():
    s = Standardiser(3, "global")
    a = latents(0)
    s.update(a)
    assert s.mean.tolist() == [0.0]
    assert s.std.item() == pytest.approx(a.pow(2).mean().sqrt().item(), rel=1e-5)
    torch.testing.assert_close(s(a), a / a.pow(2).mean().sqrt())


def test_before_any_update_a_batch_uses_its_own_statistics():
    s = Standardiser(3)
    a = latents(2)
    z = s(a)
    torch.testing.assert_close(z.reshape(-1, 3).mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.inverse(z, like=a), a, rtol=1e-5, atol=1e-4)
    assert (s.std == 0).all()


def test_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown standardisation 'batch'"):
        Standardiser(3, "batch")
