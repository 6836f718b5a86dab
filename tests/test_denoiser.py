"""Denoiser: shapes (variable T', no text), adaLN-Zero (blocks are the identity at init and get
gradient only through their gates), gradient reach after a little training, seeded determinism,
batch independence, condition masking, and a toy task the denoiser can solve only by reading its
condition tokens."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from cocodiff.method.denoiser import Denoiser, sinusoidal_embedding

LATENT, TEXT, SLOTS, ROLES = 4, 8, 3, 8
TINY = dict(width=32, depth=1, heads=2)


def make(seed: int = 0, **options) -> Denoiser:
    torch.manual_seed(seed)
    return Denoiser(LATENT, TEXT, SLOTS, ROLES, **{**TINY, **options})


def inputs(n: int = 4, frames: int = 2, k: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(n, frames, SLOTS, LATENT, generator=g)
    t = torch.randint(0, 1000, (n,), generator=g)
    text = F.normalize(torch.randn(n, k, TEXT, generator=g), dim=-1)
    roles = torch.arange(k) % ROLES
    keep = torch.ones(n, k, dtype=torch.bool)
    return x_t, t, text, roles, keep


def randomise_modulation(model: Denoiser, seed: int = 5, std: float = 0.3) -> Denoiser:
    """Move the zero-initialised adaLN layers off zero, as training does, so every path is live."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in [block.adaptive for block in model.blocks] + [model.final_adaptive]:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * std)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g) * std)
    return model


def test_sinusoidal_embedding_closed_form():
    positions = torch.tensor([0, 1, 7, 999])
    emb = sinusoidal_embedding(positions, 6)
    assert emb.shape == (4, 6)
    for row, p in enumerate(positions.tolist()):
        freqs = [math.exp(-math.log(10000.0) * i / 3) for i in range(3)]
        expected = [math.cos(p * f) for f in freqs] + [math.sin(p * f) for f in freqs]
        torch.testing.assert_close(emb[row], torch.tensor(expected), rtol=0, atol=1e-4)
    odd = sinusoidal_embedding(positions, 7)  # odd widths are zero-padded
    assert odd.shape == (4, 7) and (odd[:, -1] == 0).all()
    torch.testing.assert_close(odd[:, :6], emb)


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_output_shape_equals_input_for_any_number_of_frames(frames):
    model = make()
    x_t, t, text, roles, keep = inputs(frames=frames)
    out = model(x_t, t, text, roles, keep)
    assert out.shape == x_t.shape == (4, frames, SLOTS, LATENT)
    assert torch.isfinite(out).all()


def test_no_condition_tokens():
    model = randomise_modulation(make())
    x_t, t, _, _, _ = inputs()
    text = torch.zeros(4, 0, TEXT)
    out = model(x_t, t, text, torch.zeros(0, dtype=torch.long), torch.zeros(4, 0, dtype=torch.bool))
    assert out.shape == x_t.shape and torch.isfinite(out).all()
    out.sum().backward()
    assert model.null_token.grad is not None and model.null_token.grad.abs().sum() > 0


def test_all_tokens_dropped_equals_no_tokens():
    """keep = False everywhere leaves only the null token: exactly the no-text denoiser."""
    model = randomise_modulation(make()).eval()
    x_t, t, text, roles, keep = inputs()
    with torch.no_grad():
        dropped = model(x_t, t, text, roles, torch.zeros_like(keep))
        none = model(x_t, t, torch.zeros(4, 0, TEXT), torch.zeros(0, dtype=torch.long),
                     torch.zeros(4, 0, dtype=torch.bool))
        kept = model(x_t, t, text, roles, keep)
    torch.testing.assert_close(dropped, none, rtol=1e-5, atol=1e-6)
    assert (kept - none).abs().max() > 1e-3


def test_blocks_are_the_identity_at_init():
    """adaLN-Zero: an untrained denoiser is output(final_norm(input(x_t) + position))."""
    model = make(depth=2).eval()
    x_t, t, text, roles, keep = inputs(frames=3)
    with torch.no_grad():
        out = model(x_t, t, text, roles, keep)
        stripped = copy.deepcopy(model)
        stripped.blocks = torch.nn.ModuleList()
        torch.testing.assert_close(out, stripped(x_t, t, text, roles, keep), rtol=0, atol=1e-6)
        # the same, written out by hand
        position = sinusoidal_embedding(torch.arange(3), 32)[:, None] + model.slot_embedding[None]
        h = F.layer_norm(model.input(x_t) + position, (32,))
        torch.testing.assert_close(out, model.output(h), rtol=0, atol=1e-5)
        # hence neither t nor the text matters yet
        other_t = model(x_t, (t + 500) % 1000, text, roles, keep)
        other_text = model(x_t, t, torch.randn_like(text), roles, keep)
    torch.testing.assert_close(other_t, out, rtol=0, atol=0)
    torch.testing.assert_close(other_text, out, rtol=0, atol=0)


def test_gradients_at_init_reach_only_the_ungated_path():
    model = make(depth=2)
    x_t, t, text, roles, keep = inputs()
    (model(x_t, t, text, roles, keep) - x_t.flip(0)).square().mean().backward()
    live = {"input.weight", "input.bias", "slot_embedding", "output.weight", "output.bias",
            "final_adaptive.weight", "final_adaptive.bias"}
    live |= {f"blocks.{i}.adaptive.{p}" for i in range(2) for p in ("weight", "bias")}
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        if name in live:
            assert p.grad.abs().sum() > 0, f"{name} should learn from the first step"
        else:  # behind a zero gate or a zero modulation: exactly zero
            assert (p.grad == 0).all(), f"{name} has gradient through a zero-initialised gate"
    # of each block's modulation, only the gates (every third chunk) receive gradient
    for block in model.blocks:
        chunks = block.adaptive.weight.grad.chunk(9, dim=0)
        for index, chunk in enumerate(chunks):
            assert (chunk.abs().sum() > 0) == (index % 3 == 2), index


def test_training_reaches_every_parameter_and_lowers_the_loss():
    model = make(depth=1)
    x_t, t, text, _, keep = inputs(n=8)
    roles = torch.tensor([0, 1, 4])  # roles 2, 3, 5, 6, 7 are never used
    target = torch.tanh(x_t).flip(1) * 0.5 + 0.1
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x_t, t, text, roles, keep), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    optimizer.zero_grad()
    F.mse_loss(model(x_t, t, text, roles, keep), target).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name == "role_embedding.weight":
            used = torch.zeros(ROLES, dtype=torch.bool)
            used[roles] = True
            assert (p.grad[used].abs().sum(1) > 0).all()
            assert (p.grad[~used] == 0).all()
        else:
            assert p.grad.abs().sum() > 0, f"{name} still gets no gradient"


def test_same_seed_same_model_and_output():
    a, b, c = make(seed=3), make(seed=3), make(seed=4)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))
    for model in (a, b):
        randomise_modulation(model)
    args = inputs()
    torch.testing.assert_close(a(*args), b(*args), rtol=0, atol=0)


def test_eval_output_does_not_depend_on_the_rest_of_the_batch():
    model = randomise_modulation(make(depth=2)).eval()
    x_t, t, text, roles, keep = inputs(n=5, frames=3)
    keep[1, 0] = False
    keep[3] = False
    with torch.no_grad():
        batch = model(x_t, t, text, roles, keep)
        for i in range(5):
            alone = model(x_t[i:i + 1], t[i:i + 1], text[i:i + 1], roles, keep[i:i + 1])
            torch.testing.assert_close(alone, batch[i:i + 1], rtol=1e-5, atol=1e-5)
        perm = torch.tensor([4, 2, 0, 3, 1])
        shuffled = model(x_t[perm], t[perm], text[perm], roles, keep[perm])
    torch.testing.assert_close(shuffled, batch[perm], rtol=1e-5, atol=1e-5)


def test_masked_condition_tokens_have_no_effect():
    model = randomise_modulation(make(depth=2)).eval()
    x_t, t, text, roles, keep = inputs(n=4, k=4)
    keep[0, 1] = keep[2, 3] = keep[3, 0] = keep[3, 2] = False
    changed = text.clone()
    changed[~keep] = torch.randn(int((~keep).sum()), TEXT) * 10
    with torch.no_grad():
        base = model(x_t, t, text, roles, keep)
        torch.testing.assert_close(model(x_t, t, changed, roles, keep), base, rtol=1e-5, atol=1e-6)
        # ... while changing a kept token does change that sample, and only that sample
        kept_change = text.clone()
        kept_change[1, 0] += 1.0
        moved = model(x_t, t, kept_change, roles, keep)
    assert (moved[1] - base[1]).abs().max() > 1e-3
    torch.testing.assert_close(moved[[0, 2, 3]], base[[0, 2, 3]], rtol=1e-5, atol=1e-6)


def test_condition_is_used_to_solve_a_condition_dependent_task():
    """The target is a per-class constant and x_t carries no class information: only the text
    tokens can tell the classes apart, so the loss must fall well below the best unconditioned
    loss (the between-class variance of the targets)."""
    torch.manual_seed(0)
    classes, n, frames = 4, 32, 2
    class_text = F.normalize(torch.randn(classes, 2, TEXT), dim=-1)
    class_target = torch.randn(classes, 1, SLOTS, LATENT)
    labels = torch.arange(n) % classes
    roles = torch.tensor([0, 1])
    keep = torch.ones(n, 2, dtype=torch.bool)
    target = class_target[labels].expand(n, frames, SLOTS, LATENT)
    unconditioned_best = (class_target - class_target.mean(0)).square().mean().item()

    model = make(seed=0, width=32, depth=1, heads=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(100):
        x_t = torch.randn(n, frames, SLOTS, LATENT, generator=g)
        t = torch.randint(0, 1000, (n,), generator=g)
        loss = F.mse_loss(model(x_t, t, class_text[labels], roles, keep), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    x_t = torch.randn(n, frames, SLOTS, LATENT, generator=g)
    t = torch.randint(0, 1000, (n,), generator=g)
    with torch.no_grad():
        out = model(x_t, t, class_text[labels], roles, keep)
        final = F.mse_loss(out, target).item()
        swapped = model(x_t, t, class_text[(labels + 1) % classes], roles, keep)
    assert final < 0.25 * unconditioned_best, (final, unconditioned_best)
    # the text decides the answer: another class's text gives (close to) that class's target
    assert (swapped - out).abs().mean() > 0.3
    swapped_target = class_target[(labels + 1) % classes].expand_as(out)
    assert F.mse_loss(swapped, swapped_target).item() < 0.25 * unconditioned_best


def test_width_must_split_into_heads():
    with pytest.raises(ValueError, match="heads"):
        Denoiser(LATENT, TEXT, SLOTS, ROLES, width=30, heads=4)
