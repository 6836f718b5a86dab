"""NoiseSchedule: the betas and abar_t of both schedules against independent numpy closed forms
and pinned literals, noising and its inverse, seeded timestep draws, inference timesteps, and the
DDIM/DDPM reverse step (exact trajectory consistency with a perfect x0 estimate, and seeded
full-loop regressions in the style of diffusers' scheduler tests)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cocodiff.method.schedule import NoiseSchedule, cosine_betas, linear_betas

KINDS = ["linear", "cosine"]
PROBES = [0, 99, 499, 999]


def reference_abar(kind: str, num_steps: int) -> np.ndarray:
    """abar_t for t = 0 .. num_steps-1, straight from the papers' formulas (numpy, float64)."""
    if kind == "linear":
        scale = 1000.0 / num_steps  # improved-DDPM's rescaling so any length spans the same range
        betas = np.linspace(1e-4 * scale, 0.02 * scale, num_steps)
        return np.cumprod(1.0 - betas)
    f = lambda u: np.cos((u + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    u = np.arange(num_steps + 1) / num_steps
    betas = np.minimum(1.0 - f(u[1:]) / f(u[:-1]), 0.999)
    return np.cumprod(1.0 - betas)


# Literal values (float64) of abar at t = 0, 99, 499, 999 for num_steps = 1000.
PINNED_ABAR = {
    "linear": [0.9999, 0.89701814567496, 0.07858724288177824, 4.0358297653756754e-05],
    "cosine": [0.999958715775178, 0.9720927371139696, 0.4938435904406382, 2.4287669070348567e-09],
}


# ---- the numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_abar_matches_closed_form_and_pinned_literals(kind):
    schedule = NoiseSchedule(kind, 1000)
    abar = schedule.alphas_cumprod.numpy()
    assert schedule.alphas_cumprod.dtype == torch.float64 and abar.shape == (1000,)
    np.testing.assert_allclose(abar, reference_abar(kind, 1000), rtol=1e-12, atol=0)
    np.testing.assert_allclose(abar[PROBES], PINNED_ABAR[kind], rtol=1e-10, atol=0)


def test_cosine_closed_form_is_the_cos_squared_ratio():
    # Below the clamp (every step but the last), abar_t = f((t+1)/T) / f(0) exactly.
    abar = NoiseSchedule("cosine", 1000).alphas_cumprod.numpy()
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 1, 99, 499, 998):
        assert abar[t] == pytest.approx(f((t + 1) / 1000) / f(0.0), rel=1e-12)
    # The last beta is clamped to 0.999, so abar_last is abar_{T-2} * 0.001 (not cos^2(pi/2) = 0).
    assert abar[999] == pytest.approx(abar[998] * 0.001, rel=1e-12)
    assert abar[0] > 0.9999 and 0 < abar[999] < 1e-8


def test_linear_betas_are_ddpms_at_1000_steps():
    betas = linear_betas(1000).numpy()
    assert betas[0] == pytest.approx(1e-4, rel=1e-12) and betas[-1] == pytest.approx(0.02, rel=1e-12)
    np.testing.assert_allclose(np.diff(betas), (0.02 - 1e-4) / 999, rtol=1e-9)
    # Rescaled for other lengths: 500 steps span twice the per-step range.
    half = linear_betas(500)
    assert half[0].item() == pytest.approx(2e-4) and half[-1].item() == pytest.approx(0.04)
    assert cosine_betas(1000).max().item() == pytest.approx(0.999)


@pytest.mark.parametrize("num_steps", [1, 10, 50, 100, 1000])
@pytest.mark.parametrize("kind", KINDS)
def test_betas_in_unit_interval_and_abar_strictly_decreasing(kind, num_steps):
    # The config accepts any num_steps >= 1, so every length must give a valid schedule.
    schedule = NoiseSchedule(kind, num_steps)
    betas, abar = schedule.betas, schedule.alphas_cumprod
    assert betas.shape == abar.shape == (num_steps,)
    assert ((betas > 0) & (betas < 1)).all(), f"betas outside (0, 1): max {betas.max().item()}"
    assert ((abar > 0) & (abar < 1)).all()
    assert (abar[1:] < abar[:-1]).all()
    torch.testing.assert_close(abar, torch.cumprod(1 - betas, 0), rtol=0, atol=0)
    # Every timestep can be noised without producing NaN.
    x0 = torch.ones(num_steps, 3)
    assert torch.isfinite(schedule.add_noise(x0, torch.ones_like(x0), torch.arange(num_steps))).all()


@pytest.mark.parametrize("kind", KINDS)
def test_shorter_schedules_span_the_same_noise_range(kind):
    long, short = NoiseSchedule(kind, 1000).alphas_cumprod, NoiseSchedule(kind, 100).alphas_cumprod
    # the last level is (nearly) pure noise in both, the middle roughly the same
    assert short[-1] < 1e-3 and long[-1] < 1e-3
    assert abs(short[49].item() - long[499].item()) < 0.03


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="num_steps"):
        NoiseSchedule("cosine", 0)
    with pytest.raises(ValueError, match="unknown schedule"):
        NoiseSchedule("sigmoid", 100)
    assert "cosine" in repr(NoiseSchedule("cosine", 10))


# ---- noising ----------------------------------------------------------------------------------

# float32 samples: abar is cast to float32 before sqrt(1 - abar), which costs ~1e-3 relative
# precision of the (tiny) noise coefficient at t = 0, hence 1e-5 there.
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("kind", KINDS)
def test_add_noise_per_sample_timesteps(kind, dtype, tol):
    schedule = NoiseSchedule(kind, 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 2, 5, generator=g, dtype=dtype)
    eps = torch.randn(4, 3, 2, 5, generator=g, dtype=dtype)
    t = torch.tensor([0, 99, 499, 999])
    x_t = schedule.add_noise(x0, eps, t)
    abar = reference_abar(kind, 1000)
    for i, step in enumerate(t.tolist()):
        expected = math.sqrt(abar[step]) * x0[i] + math.sqrt(1 - abar[step]) * eps[i]
        torch.testing.assert_close(x_t[i], expected, rtol=0, atol=tol)
    assert x_t.dtype == dtype and x_t.shape == x0.shape
    # the same t for every sample is the same as a scalar abar
    same = schedule.add_noise(x0, eps, torch.full((4,), 499))
    expected = math.sqrt(abar[499]) * x0 + math.sqrt(1 - abar[499]) * eps
    torch.testing.assert_close(same, expected, rtol=0, atol=tol)
    # t = 999 is nearly all noise, t = 0 nearly all signal
    assert (x_t[3] - eps[3]).abs().max() < 0.05 and (x_t[0] - x0[0]).abs().max() < 0.05


def test_sample_timesteps_range_and_seeded_sequence():
    schedule = NoiseSchedule("cosine", 1000)
    torch.manual_seed(0)
    draws = schedule.sample_timesteps(5000, 400)
    assert draws.dtype == torch.int64 and draws.shape == (5000,)
    assert draws.min() == 0 and draws.max() == 399
    assert schedule.sample_timesteps(2000).max() > 900  # default: all steps
    assert set(schedule.sample_timesteps(200, 1).tolist()) == {0}
    pinned = [44, 239, 133, 160, 163, 379, 227, 103, 297, 83]
    g = torch.Generator().manual_seed(0)
    assert schedule.sample_timesteps(10, 400, generator=g).tolist() == pinned
    torch.manual_seed(0)
    assert schedule.sample_timesteps(10, 400).tolist() == pinned
    g = torch.Generator().manual_seed(0)
    assert schedule.sample_timesteps(10, 400, generator=g).tolist() == pinned


@pytest.mark.parametrize("t_max", [0, -1, 1001])
def test_sample_timesteps_rejects_bad_t_max(t_max):
    with pytest.raises(ValueError, match="t_max"):
        NoiseSchedule("cosine", 1000).sample_timesteps(3, t_max)


# ---- inference timesteps ----------------------------------------------------------------------

@pytest.mark.parametrize("steps,start", [(10, None), (10, 399), (50, 999), (7, 100), (1000, 999), (10, 3)])
def test_set_timesteps(steps, start):
    schedule = NoiseSchedule("cosine", 1000)
    timesteps = schedule.set_timesteps(steps, start=start)
    first = 999 if start is None else start
    assert timesteps.dtype == torch.int64
    assert timesteps is schedule.timesteps
    assert len(timesteps) == min(steps, first + 1)
    assert timesteps[0] == first and timesteps[-1] == 0
    assert (timesteps[1:] < timesteps[:-1]).all()  # strictly descending, hence unique
    assert len(torch.unique(timesteps)) == len(timesteps)


def test_set_timesteps_pinned():
    schedule = NoiseSchedule("cosine", 1000)
    assert schedule.set_timesteps(10).tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert schedule.set_timesteps(10, start=399).tolist() == [399, 355, 310, 266, 222, 177, 133, 89, 44, 0]
    assert schedule.set_timesteps(10, start=3).tolist() == [3, 2, 1, 0]
    assert schedule.set_timesteps(1, start=5).tolist() == [5]  # one step: straight to x0
    assert schedule.set_timesteps(4, start=0).tolist() == [0]


@pytest.mark.parametrize("steps,start", [(0, None), (-3, 10), (5, -1), (5, 1000)])
def test_set_timesteps_rejects_bad_arguments(steps, start):
    with pytest.raises(ValueError):
        NoiseSchedule("cosine", 1000).set_timesteps(steps, start=start)


def test_previous_timestep():
    schedule = NoiseSchedule("linear", 1000)
    schedule.set_timesteps(4, start=300)
    assert schedule.timesteps.tolist() == [300, 200, 100, 0]
    assert [schedule.previous_timestep(t) for t in (300, 200, 100, 0)] == [200, 100, 0, -1]
    assert NoiseSchedule("linear", 5).previous_timestep(3) == 2  # default: every step


# ---- the reverse step -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("kind", KINDS)
def test_ddim_with_perfect_x0_follows_the_forward_marginals(kind, dtype, tol):
    """eta = 0 and the true x0: every x_prev is exactly add_noise(x0, eps, prev) for the same eps."""
    schedule = NoiseSchedule(kind, 1000)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, 4, 3, dtype=dtype, generator=g)
    eps = torch.randn(2, 4, 3, dtype=dtype, generator=g)
    timesteps = schedule.set_timesteps(20, start=999)
    x = schedule.add_noise(x0, eps, torch.full((2,), 999))
    visited = []
    for t in timesteps.tolist():
        prev = schedule.previous_timestep(t)
        x = schedule.step(x0, t, x, eta=0.0)
        if prev >= 0:
            torch.testing.assert_close(x, schedule.add_noise(x0, eps, torch.full((2,), prev)), rtol=0, atol=tol)
        visited.append(prev)
    assert visited[-1] == -1 and visited[:-1] == timesteps[1:].tolist()
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    assert x.dtype == dtype


def test_final_step_returns_the_x0_estimate():
    schedule = NoiseSchedule("cosine", 1000)
    schedule.set_timesteps(5, start=200)
    x_t, x0_pred = torch.randn(3, 4), torch.randn(3, 4)
    assert schedule.step(x0_pred, 0, x_t) is x0_pred
    assert schedule.step(x0_pred, 0, x_t, eta=1.0, generator=torch.Generator().manual_seed(0)) is x0_pred
    assert not torch.allclose(schedule.step(x0_pred, 200, x_t), x0_pred)


def test_ddim_step_closed_form():
    schedule = NoiseSchedule("linear", 1000)
    schedule.set_timesteps(10)  # 999, 888, ...
    abar = reference_abar("linear", 1000)
    x_t, x0 = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    eps = (x_t - math.sqrt(abar[888]) * x0) / math.sqrt(1 - abar[888])
    expected = math.sqrt(abar[777]) * x0 + math.sqrt(1 - abar[777]) * eps
    torch.testing.assert_close(schedule.step(x0, 888, x_t), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_eta_one_is_ddpm_posterior_and_seeded(kind):
    schedule = NoiseSchedule(kind, 1000)
    schedule.set_timesteps(10, start=499)
    t, prev = int(schedule.timesteps[2]), int(schedule.timesteps[3])
    x_t, x0 = torch.randn(4000, dtype=torch.float64), torch.randn(4000, dtype=torch.float64)

    def draw(seed, eta=1.0):
        return schedule.step(x0, t, x_t, eta=eta, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(draw(0), draw(0), rtol=0, atol=0)
    assert not torch.allclose(draw(0), draw(1))
    deterministic = draw(0, eta=0.0)
    torch.testing.assert_close(deterministic, draw(5, eta=0.0), rtol=0, atol=0)
    assert not torch.allclose(draw(0), deterministic)
    # DDPM's posterior: mean sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps, std sigma
    a_t, a_p = reference_abar(kind, 1000)[[t, prev]]
    sigma = math.sqrt((1 - a_p) / (1 - a_t) * (1 - a_t / a_p))
    eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
    mean = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p - sigma ** 2) * eps
    residual = (draw(7) - mean) / sigma
    assert abs(residual.mean().item()) < 0.05 and abs(residual.std().item() - 1) < 0.05
    # eta = 0.5 adds noise with half of that std
    half_mean = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p - (sigma / 2) ** 2) * eps
    half = (draw(7, eta=0.5) - half_mean) / (sigma / 2)
    torch.testing.assert_close(half, residual, rtol=0, atol=1e-9)


def toy_x0_model(x_t: torch.Tensor, t: int) -> torch.Tensor:
    """A fixed stand-in for the denoiser: deterministic in (x_t, t)."""
    return torch.tanh(x_t) * 0.5 + t / 1000.0


def sample(kind: str, eta: float, seed: int = 0, steps: int = 10) -> torch.Tensor:
    schedule = NoiseSchedule(kind, 1000)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=g)
    for t in schedule.set_timesteps(steps).tolist():
        x = schedule.step(toy_x0_model(x, t), t, x, eta=eta, generator=g)
    return x


# Regression values of the full seeded loop (float64): sum, mean |x| and x[0, 0, :2].
PINNED_LOOPS = {
    ("linear", 0.0): (1.8897837643079405, 0.12039026481665187, [-0.13527417854594373, 0.09384767062174824]),
    ("linear", 1.0): (2.513223834591654, 0.1307057533719681, [0.11619361212435778, 0.009709061708630513]),
    ("cosine", 0.0): (3.211628610275274, 0.13859934221494966, [-0.049678789139290976, 0.1578614820023417]),
    ("cosine", 1.0): (3.4091554608403456, 0.14723389630919775, [0.1657673970000755, 0.09754015117868953]),
}


@pytest.mark.parametrize("kind,eta", sorted(PINNED_LOOPS))
def test_full_sampling_loop_regression(kind, eta):
    result = sample(kind, eta)
    assert result.shape == (2, 3, 4) and torch.isfinite(result).all()
    torch.testing.assert_close(result, sample(kind, eta), rtol=0, atol=0)
    total, mean_abs, first = PINNED_LOOPS[(kind, eta)]
    assert result.sum().item() == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert result.abs().mean().item() == pytest.approx(mean_abs, rel=1e-9)
    np.testing.assert_allclose(result[0, 0, :2].numpy(), first, rtol=1e-9)
    if eta > 0:
        assert not torch.allclose(result, sample(kind, eta, seed=1))
