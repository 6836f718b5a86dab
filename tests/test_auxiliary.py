"""The CoCoDiff auxiliary on real tiny backbones: every latent x text mode gives finite losses;
where gradient goes for each generator (the point of the redesign: the denoiser learns from
L_diff alone, the backbone from cross-entropy at a generated point); the skip path; the
warm-up; generation; the controls; and that the auxiliary owns no recogniser weight.

Text embeddings are small random unit vectors; no text model is ever loaded."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cocodiff.config import MethodConfig
from cocodiff.data.layouts import get_layout
from cocodiff.method.auxiliary import CoCoDiff
from cocodiff.models import BACKBONES, build_recognizer
from tiny_runs import fake_text

LAYOUT = "coco17"
NUM_CLASSES = 4
BACKBONES = list(BACKBONES)  # the registry
KINDS = ["parts", "joints", "pooled"]
MODES = ["none", "coarse", "fine", "both", "label"]


def recognizer(name: str):
    torch.manual_seed(0)
    model = build_recognizer(name, LAYOUT, 3, NUM_CLASSES, base_channels=8)
    if name == "ctrgcn":  # alpha starts at 0 (see test_backbones); move it so every path is live
        for unit in model.encoder.units:
            unit.gcn1.alpha.data.fill_(0.5)
    return model


def batch(n: int = 4, t: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, t, 17, 3, generator=g), torch.tensor([0, 1, 2, 3, 1, 2, 0, 3][:n])


def auxiliary(model, *, latent="parts", text="both", seed=0, **options) -> CoCoDiff:
    # L_sem on the generated features unless a test says otherwise: the paths below are about
    # what the generator's output reaches (the default ties L_sem to the real features).
    options = {"semantic": "generated", "soft_targets": False, **options}
    config = MethodConfig(enabled=True, latent=latent, text=text, width=16, depth=1, heads=2,
                          num_steps=100, t_max=40, **options)
    torch.manual_seed(seed)
    return CoCoDiff(config, get_layout(LAYOUT), feature_dim=model.encoder.out_channels,
                    num_classes=NUM_CLASSES, text=fake_text(counts=(5, 3, 1, 2)))


def reaches(loss, tensors) -> bool:
    if not loss.requires_grad:  # a constant (the zero L_sem without semantics)
        return False
    found = torch.autograd.grad(loss, tensors, allow_unused=True, retain_graph=True)
    return any(g is not None and g.abs().sum() > 0 for g in found)


def losses_for(backbone="ctrgcn", seed=3, **options):
    model = recognizer(backbone).train()
    aux = auxiliary(model, **options).train()
    x, labels = batch()
    torch.manual_seed(seed)
    features = model.encoder.forward_features(x)
    return model, aux, features, labels, aux(features, labels, model.classifier)


@pytest.mark.parametrize("text", MODES)
@pytest.mark.parametrize("latent", KINDS)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_sampled_generator_losses_and_gradient_paths(backbone, latent, text):
    model, aux, features, labels, losses = losses_for(backbone, latent=latent, text=text)
    assert set(losses) == {"diff", "gen", "sem", "drift"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert losses["diff"] > 0 and losses["gen"] > 0 and losses["drift"] > 0
    no_sem = text in ("none", "label") or (latent == "pooled" and text == "fine")
    assert (losses["sem"] == 0) == no_sem
    assert (aux.coarse_head is None) == (text in ("none", "fine", "label"))
    assert (aux.part_head is None) == (latent == "pooled" or text in ("none", "coarse", "label"))

    encoder = [features, *model.encoder.parameters()]
    denoiser = list(aux.denoiser.parameters())
    # The denoiser learns from L_diff alone, on detached features ...
    assert reaches(losses["diff"], denoiser) and not reaches(losses["diff"], encoder)
    # ... and the classifier's loss on the generated point trains the backbone, not the denoiser.
    assert reaches(losses["gen"], encoder) and not reaches(losses["gen"], denoiser)
    if not no_sem:
        assert reaches(losses["sem"], encoder) and not reaches(losses["sem"], denoiser)
    assert not losses["drift"].requires_grad
    total = aux.weighted(losses)
    torch.testing.assert_close(total, losses["diff"] + 0.5 * losses["gen"] + 0.5 * losses["sem"])
    torch.testing.assert_close(aux.weighted(losses, ramp=0.0), losses["diff"])  # the warm-up's start
    total.backward()
    assert model.classifier.fc.weight.grad.abs().sum() > 0  # L_gen trains the shared classifier
    for name, p in aux.denoiser.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_sampled_features_are_cross_entropy_at_a_moved_point():
    """L_gen's gradient on the features is that of cross-entropy at x0 + a constant offset: the
    same as the classifier's loss on the real features shifted by (generated - real)."""
    model, aux, features, labels, losses = losses_for("stgcn", latent="pooled", text="none")
    pooled_real = model.classifier.pool(features)
    # drift is the offset's RMS per channel, in standardised units
    assert 0 < losses["drift"] < 10
    (gradient,) = torch.autograd.grad(losses["gen"], features, retain_graph=True)
    logits = model.classifier.head(pooled_real)
    (real_gradient,) = torch.autograd.grad(F.cross_entropy(logits, labels), features)
    assert not torch.allclose(gradient, real_gradient)  # evaluated elsewhere than the real point


def test_one_step_first_design_gradient_paths():
    model, aux, features, labels, losses = losses_for(generator="one_step")
    encoder = [features, *model.encoder.parameters()]
    denoiser = list(aux.denoiser.parameters())
    # The audit's finding, kept visible: L_gen and L_sem train the denoiser, and L_diff reaches
    # the backbone through x_t when grad_to_backbone is on.
    assert reaches(losses["gen"], denoiser) and reaches(losses["sem"], denoiser)
    assert reaches(losses["diff"], encoder) and reaches(losses["gen"], encoder)
    model, aux, features, labels, losses = losses_for(generator="one_step", grad_to_backbone=False)
    encoder = [features, *model.encoder.parameters()]
    for key in ("gen", "sem", "diff"):
        assert not reaches(losses[key], encoder), key


def test_semantic_loss_on_real_features_ignores_the_generator():
    sems = [losses_for(generator=generator, semantic="real", soft_targets=True)[-1]["sem"]
            for generator in ("sampled", "gaussian")]
    torch.testing.assert_close(sems[0], sems[1])
    model, aux, features, labels, losses = losses_for(semantic="real")
    assert reaches(losses["sem"], [features]) and not reaches(losses["sem"], list(aux.denoiser.parameters()))


@pytest.mark.parametrize("generator", ["gaussian", "class_covariance"])
def test_controls_move_the_pooled_feature_by_the_set_drift(generator):
    model = recognizer("stgcn").train()
    aux = auxiliary(model, generator=generator, noise_drift=0.5, loss_sem=0).train()
    drifts = []
    for seed in range(30):
        x, labels = batch(n=8, seed=seed)
        with torch.no_grad():
            features = model.encoder.forward_features(x)
            drifts.append(aux(features, labels, model.classifier)["drift"].item())
    assert sum(drifts[5:]) / len(drifts[5:]) == pytest.approx(0.5, rel=0.25)
    model, aux, features, labels, losses = losses_for(generator=generator)
    denoiser = list(aux.denoiser.parameters())
    assert reaches(losses["gen"], [features]) and not reaches(losses["gen"], denoiser)
    assert reaches(losses["diff"], denoiser)  # the denoiser still trains (its cost is part of the control)


def test_skip_path_starts_from_the_scaled_input():
    model = recognizer("stgcn")
    aux = auxiliary(model).eval()
    torch.nn.init.zeros_(aux.denoiser.output.weight)
    torch.nn.init.zeros_(aux.denoiser.output.bias)
    x_t = torch.randn(4, 3, 6, model.encoder.out_channels)
    t = torch.tensor([0, 10, 20, 39])
    labels = batch()[1]
    signal = aux.schedule.alphas_cumprod[t].sqrt().float()[:, None, None, None]
    torch.testing.assert_close(aux.denoise(x_t, t, labels, training=False), signal * x_t)
    plain = auxiliary(model, skip=False).eval()
    torch.nn.init.zeros_(plain.denoiser.output.weight)
    torch.nn.init.zeros_(plain.denoiser.output.bias)
    assert plain.denoise(x_t, t, labels, training=False).abs().max() == 0


def test_training_uses_standardised_latent_units():
    """Scaling and shifting the features leaves L_diff unchanged: the standardiser follows them."""
    model = recognizer("stgcn").eval()
    labels = batch()[1]
    g = torch.Generator().manual_seed(0)
    features = torch.rand(4, 2, model.encoder.out_channels, 2, 17, generator=g)  # every channel alive
    results = []
    with torch.no_grad():
        for factor, shift in ((1.0, 0.0), (100.0, 3.0)):
            aux = auxiliary(model).train()
            torch.manual_seed(5)
            results.append(aux(features * factor + shift, labels, model.classifier)["diff"])
    torch.testing.assert_close(results[0], results[1], rtol=1e-4, atol=1e-5)


def test_condition_dropout():
    model = recognizer("stgcn")
    labels = batch()[1]
    always = auxiliary(model, p_uncond=1.0)
    never = auxiliary(model, p_uncond=0.0)
    _, _, keep = always._condition(labels, training=True)
    assert keep.shape == (4, 8) and not keep.any()
    assert always._condition(labels, training=False)[2].all()
    assert never._condition(labels, training=True)[2].all()


@pytest.mark.parametrize("latent", KINDS)
def test_generate(latent):
    model = recognizer("ctrgcn").eval()
    aux = auxiliary(model, latent=latent)
    x, labels = batch()
    with torch.no_grad():
        features = model.encoder.forward_features(x)
        aux.train()(features, labels, model.classifier)  # sets the statistics
    aux.eval()
    real = aux.latent(features)

    def draw(seed, **options):
        torch.rand(7)  # generation must not depend on the global RNG
        return aux.generate(features, labels, generator=torch.Generator().manual_seed(seed), **options)

    first = draw(0)
    assert first.shape == real.shape and torch.isfinite(first).all()
    torch.testing.assert_close(draw(0), first, rtol=0, atol=0)
    assert not torch.allclose(draw(1), first)
    g = torch.Generator().manual_seed(0)
    one, two = (aux.generate(features, labels, generator=g, eta=1.0) for _ in range(2))
    assert not torch.allclose(one, two)  # successive eta = 1 draws differ
    torch.testing.assert_close(draw(4, eta=0.0), draw(4, eta=0.0), rtol=0, atol=0)
    assert not torch.allclose(draw(4, eta=0.0), draw(4, eta=1.0))
    # start = 0: a single step, whose result is the denoiser's own estimate (in feature units)
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(9))
    x_0 = aux.schedule.add_noise(aux.standardiser(real), noise, torch.zeros(4, dtype=torch.long))
    with torch.no_grad():
        estimate = aux.standardiser.inverse(aux.denoise(x_0, torch.zeros(4, dtype=torch.long), labels, training=False))
    torch.testing.assert_close(draw(9, start=0, steps=10), estimate, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_generate_with_an_oracle_denoiser(eta, monkeypatch):
    """With the x0 estimate replaced by an oracle, generation is pure schedule + units plumbing."""
    model = recognizer("stgcn").eval()
    aux = auxiliary(model).eval()  # statistics not set yet: generate uses the batch's own
    x, labels = batch()
    with torch.no_grad():
        features = model.encoder.forward_features(x)
    real = aux.latent(features)
    z = aux.standardiser(real)

    # A perfect estimate gives back the real latent, for any start.
    monkeypatch.setattr(aux, "denoise", lambda x_t, t, labels, training: z)
    for start in (0, 20, 39, None):
        out = aux.generate(features, labels, start=start, eta=eta, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out, real, rtol=1e-5, atol=1e-5)
    assert (aux.standardiser.std == 0).all()

    # A naive estimate (x_t / sqrt(abar_t), blind to the noise) keeps the drift the start allows:
    # small from t = 0, larger from t_max - 1.
    abar = aux.schedule.alphas_cumprod
    monkeypatch.setattr(aux, "denoise", lambda x_t, t, labels, training: x_t / abar[t[0]].sqrt().float())
    drift = {}
    for start in (0, 39):
        out = aux.generate(features, labels, start=start, eta=eta, generator=torch.Generator().manual_seed(0))
        drift[start] = (aux.standardiser(out, ) - z).pow(2).mean().sqrt().item()
    # from t = 0 the output is z + sqrt((1 - abar_0) / abar_0) * noise, noise ~ N(0, 1)
    expected = math.sqrt((1 - abar[0].item()) / abar[0].item())
    assert drift[0] == pytest.approx(expected, rel=0.2) and drift[0] < 0.05
    assert drift[39] > 3 * drift[0]


@pytest.mark.parametrize("generator, text", [("sampled", "both"), ("class_covariance", "label")])
def test_auxiliary_owns_no_recogniser_weights(generator, text):
    model = recognizer("ctrgcn")
    aux = auxiliary(model, generator=generator, text=text)
    assert sum(p.numel() for p in aux.parameters()) > 0
    recogniser_storage = {p.data_ptr() for p in model.parameters()} | {b.data_ptr() for b in model.buffers()}
    assert not recogniser_storage & {p.data_ptr() for p in aux.parameters()}
    assert not recogniser_storage & {b.data_ptr() for b in aux.buffers()}
    names = [name for name, _ in aux.named_parameters()]
    assert not any(name.startswith(("encoder", "classifier")) for name in names)
    # checkpointed: learnt weights and running statistics; text and layout constants are rebuilt
    statistics = {"standardiser.mean", "standardiser.std"}
    if generator == "class_covariance":
        statistics |= {"class_covariance.mean", "class_covariance.second", "class_covariance.seen"}
    assert set(aux.state_dict()) == set(names) | statistics
    owners = {"denoiser", "coarse_head", "part_head"} if text == "both" else {"denoiser", "condition"}
    assert {name.split(".")[0] for name in names} == owners


def test_auxiliary_rejects_bad_arguments():
    model = recognizer("stgcn")
    config = MethodConfig(enabled=True, width=16, depth=1, heads=2, num_steps=100, t_max=40)
    with pytest.raises(ValueError, match="classes"):
        CoCoDiff(config, get_layout(LAYOUT), feature_dim=model.encoder.out_channels, num_classes=3,
                 text=fake_text(counts=(5, 3, 1, 2)))
    with pytest.raises(ValueError, match="unknown generator 'diffusion'"):
        CoCoDiff(MethodConfig(enabled=True, generator="diffusion"), get_layout(LAYOUT),
                 feature_dim=model.encoder.out_channels, num_classes=4, text=fake_text(counts=(5, 3, 1, 2)))
