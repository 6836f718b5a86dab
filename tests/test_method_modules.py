"""The method's pieces around the denoiser: Latent (every layout, every kind, pools that match
the classifier's), ClassCondition (tokens, roles, sentence picks, prototypes), the three losses,
and the CoCoDiff auxiliary on real tiny backbones (every latent x text mode: finite losses,
where gradient goes, the running scale, generation, and that it owns no recogniser weight).

Text embeddings are small random unit vectors; no text model is ever loaded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cocodiff.config import MethodConfig
from cocodiff.data.layouts import LAYOUTS, PART_NAMES, get_layout
from cocodiff.method.auxiliary import CoCoDiff
from cocodiff.method.condition import FINE_FOR_PART, NUM_ROLES, ClassCondition
from cocodiff.method.latent import Latent
from cocodiff.method.losses import diffusion_loss, generation_loss, semantic_loss
from cocodiff.method.text.corpus import FINE_PARTS
from cocodiff.method.text.embeddings import TextEmbeddings
from cocodiff.models import build_backbone
from cocodiff.models.base import Classifier

KINDS = ["parts", "joints", "pooled"]
MODES = ["none", "coarse", "fine", "both"]
DIM = 16  # text embedding width


def fake_text(counts=(5, 3, 1, 2), dim: int = DIM, seed: int = 0) -> TextEmbeddings:
    """Random unit vectors shaped like `embed_classes`' output; rows past a class's count are 0."""
    rng = np.random.default_rng(seed)
    k, slots = len(counts), max(counts)

    def unit(*shape):
        v = rng.standard_normal((*shape, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    coarse = np.zeros((k, slots, dim), dtype=np.float32)
    for i, c in enumerate(counts):
        coarse[i, :c] = unit(c)
    return TextEmbeddings([f"class{i}" for i in range(k)], coarse, np.asarray(counts, dtype=np.int64),
                          unit(k, len(FINE_PARTS)), "fake")


# ---- Latent -------------------------------------------------------------------------------------

def feature_map(layout: str, n=2, m=2, c=5, t=3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, m, c, t, LAYOUTS[layout].num_joints, generator=g, dtype=torch.float64).float()


def reference_part_means(features: torch.Tensor, layout) -> torch.Tensor:
    """(N, 6, C'): each body part's mean over persons, frames and its joints."""
    return torch.stack([features[..., list(layout.parts[p])].mean(dim=(1, 3, 4)) for p in PART_NAMES], 1)


@pytest.mark.parametrize("layout_name", sorted(LAYOUTS))
def test_latent_shapes_and_pools_every_layout(layout_name):
    layout = LAYOUTS[layout_name]
    features = feature_map(layout_name)
    v = layout.num_joints
    expected_shape = {"parts": (2, 3, 6, 5), "joints": (2, 3, v, 5), "pooled": (2, 1, 1, 5)}
    classifier_pool = Classifier.pool(features)
    latents = {}
    for kind in KINDS:
        latent = Latent(kind, layout)
        x0 = latent(features)
        latents[kind] = (latent, x0)
        assert x0.shape == expected_shape[kind] and latent.num_slots == x0.shape[2]
        torch.testing.assert_close(latent.pool(x0), classifier_pool, rtol=0, atol=1e-6)
        assert latent.has_parts == (kind != "pooled")
        assert len(latent.state_dict()) == 0  # constants only, never saved
    parts_latent, parts = latents["parts"]
    joints_latent, joints = latents["joints"]
    # parts: each slot is its part's joint mean at that frame
    for index, part in enumerate(PART_NAMES):
        expected = features[..., list(layout.parts[part])].mean(dim=(1, 4)).transpose(1, 2)  # (N, T', C')
        torch.testing.assert_close(parts[:, :, index], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(joints, features.mean(1).permute(0, 2, 3, 1), rtol=0, atol=0)
    torch.testing.assert_close(latents["pooled"][1][:, 0, 0], classifier_pool, rtol=0, atol=1e-6)
    reference = reference_part_means(features, layout)
    torch.testing.assert_close(parts_latent.part_pool(parts), reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(joints_latent.part_pool(joints), reference, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="no body parts"):
        latents["pooled"][0].part_pool(latents["pooled"][1])


@pytest.mark.parametrize("kind", KINDS)
def test_latent_pool_of_a_generated_latent_is_slot_weighted(kind):
    # Not just for real features: pool weights a slot by the joints it stands for.
    layout = get_layout("coco17")  # parts of 5, 2, 2, 4, 2, 2 joints
    latent = Latent(kind, layout)
    x = torch.randn(3, 4, latent.num_slots, 6)
    sizes = torch.tensor([len(layout.parts[p]) for p in PART_NAMES], dtype=torch.float32)
    weights = {"parts": sizes / 17, "joints": torch.full((17,), 1 / 17), "pooled": torch.ones(1)}[kind]
    torch.testing.assert_close(latent.pool(x), (x.mean(1) * weights[:, None]).sum(1), rtol=1e-6, atol=1e-6)
    assert latent.slot_weights.sum().item() == pytest.approx(1.0)


def test_latent_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown latent"):
        Latent("frames", get_layout("ntu25"))


# ---- ClassCondition -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode,count,roles", [
    ("none", 0, []), ("coarse", 2, [0, 1]), ("fine", 6, [2, 3, 4, 5, 6, 7]),
    ("both", 8, [0, 1, 2, 3, 4, 5, 6, 7])])
def test_condition_roles_and_token_counts(mode, count, roles):
    text = fake_text()
    condition = ClassCondition(text if mode != "none" else None, mode)
    labels = torch.tensor([0, 1, 2, 3, 0])
    tokens, token_roles = condition.tokens(labels, random_sentence=False)
    assert tokens.shape == (5, count, condition.text_dim) and tokens.dtype == torch.float32
    assert token_roles.tolist() == roles and token_roles.dtype == torch.long
    assert all(r < NUM_ROLES for r in roles) and NUM_ROLES == 8
    assert condition.uses_coarse == (mode in ("coarse", "both"))
    assert condition.uses_fine == (mode in ("fine", "both"))
    if mode == "none":
        assert condition.text_dim == 1
        return
    coarse, fine = torch.from_numpy(text.coarse), torch.from_numpy(text.fine)
    offset = 0
    if condition.uses_coarse:
        torch.testing.assert_close(tokens[:, 0], coarse[labels, 0], rtol=0, atol=0)  # the name
        # eval: the description (index 1), or the name again for a name-only class (label 2)
        described = torch.tensor([1, 1, 0, 1, 1])
        torch.testing.assert_close(tokens[:, 1], coarse[labels, described], rtol=0, atol=0)
        offset = 2
    if condition.uses_fine:
        torch.testing.assert_close(tokens[:, offset:], fine[labels], rtol=0, atol=0)


def test_random_sentences_cover_description_and_paraphrases_only():
    text = fake_text(counts=(5, 3, 1, 2))
    condition = ClassCondition(text, "coarse")
    coarse = torch.from_numpy(text.coarse)
    torch.manual_seed(0)
    for label, expected in [(0, {1, 2, 3, 4}), (1, {1, 2}), (2, {0}), (3, {1})]:
        labels = torch.full((400,), label)
        tokens, _ = condition.tokens(labels, random_sentence=True)
        picked = (tokens[:, 1] @ coarse[label].T).argmax(1)  # which sentence each sample got
        torch.testing.assert_close(tokens[:, 1], coarse[label, picked], rtol=0, atol=0)
        assert set(picked.tolist()) == expected, label
        counts = torch.bincount(picked, minlength=5)[sorted(expected)]
        assert counts.min() > 400 / len(expected) * 0.6  # roughly uniform
        torch.testing.assert_close(tokens[:, 0], coarse[label, 0].expand(400, -1), rtol=0, atol=0)


def test_prototypes():
    text = fake_text(counts=(5, 3, 1, 2))
    condition = ClassCondition(text, "both")
    coarse_p, part_p = condition.coarse_prototypes, condition.part_prototypes
    assert coarse_p.shape == (4, DIM) and part_p.shape == (4, 6, DIM)
    torch.testing.assert_close(coarse_p.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(part_p.norm(dim=-1), torch.ones(4, 6))
    for k, c in enumerate(text.coarse_count):
        mean = text.coarse[k, :c].mean(0)
        np.testing.assert_allclose(coarse_p[k].numpy(), mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(coarse_p[2].numpy(), text.coarse[2, 0], atol=1e-6)  # name only
    fine = {part: text.fine[:, i] for i, part in enumerate(FINE_PARTS)}
    expected = {"head": fine["head"], "torso": fine["torso"],
                "left_arm": fine["arms"] + fine["hands"], "right_arm": fine["arms"] + fine["hands"],
                "left_leg": fine["legs"] + fine["feet"], "right_leg": fine["legs"] + fine["feet"]}
    for index, part in enumerate(PART_NAMES):
        e = expected[part] / np.linalg.norm(expected[part], axis=-1, keepdims=True)
        np.testing.assert_allclose(part_p[:, index].numpy(), e, atol=1e-6, err_msg=part)
    assert set(FINE_FOR_PART) == set(PART_NAMES)
    # constant buffers, never saved
    assert len(condition.state_dict()) == 0


def test_condition_rejects_bad_arguments():
    text = fake_text()
    with pytest.raises(ValueError, match="unknown text mode"):
        ClassCondition(text, "sentences")
    with pytest.raises(ValueError, match="needs text embeddings"):
        ClassCondition(None, "fine")
    broken = fake_text(counts=(2, 1))
    broken.coarse_count[1] = 0
    with pytest.raises(ValueError, match="at least its name"):
        ClassCondition(broken, "coarse")


# ---- losses -------------------------------------------------------------------------------------

def orthonormal(k: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    return q.T.float()  # (k, d) orthonormal rows


def test_semantic_loss_closed_forms():
    k, temperature = 4, 0.1
    prototypes = orthonormal(k, 8)
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    scales = torch.tensor([0.5, 1.0, 3.0, 7.0, 2.0, 1.0])[:, None]  # cosine ignores length
    own = semantic_loss(prototypes[labels] * scales, prototypes, labels, temperature)
    other = semantic_loss(prototypes[(labels + 1) % k], prototypes, labels, temperature)
    assert own.item() == pytest.approx(math.log(1 + (k - 1) * math.exp(-1 / temperature)), abs=1e-6)
    assert other.item() == pytest.approx(math.log(math.exp(1 / temperature) + k - 1), rel=1e-4)
    assert own.item() < 1e-3 and other.item() > 9.9
    # a lower temperature sharpens both
    assert semantic_loss(prototypes[labels], prototypes, labels, 0.05) < own
    # unnormalised prototypes are normalised too
    torch.testing.assert_close(semantic_loss(prototypes[labels], prototypes * 5, labels, temperature), own)


def test_semantic_loss_per_part_is_the_mean_of_per_part_losses():
    g = torch.Generator().manual_seed(2)
    n, parts, k, d = 5, 6, 3, 8
    vectors = torch.randn(n, parts, d, generator=g)
    prototypes = torch.randn(k, parts, d, generator=g)
    labels = torch.tensor([0, 2, 1, 1, 0])
    per_part = [semantic_loss(vectors[:, p], prototypes[:, p], labels, 0.2) for p in range(parts)]
    torch.testing.assert_close(semantic_loss(vectors, prototypes, labels, 0.2), torch.stack(per_part).mean())
    # each part is classified against its own prototypes, not another part's
    swapped = prototypes[:, torch.tensor([1, 0, 2, 3, 4, 5])]
    assert not torch.allclose(semantic_loss(vectors, swapped, labels, 0.2), torch.stack(per_part).mean())
    # independently: explicit cross-entropy per part
    logits = torch.einsum("npd,kpd->pnk", F.normalize(vectors, dim=-1), F.normalize(prototypes, dim=-1))
    explicit = torch.stack([F.cross_entropy(logits[p] / 0.2, labels) for p in range(parts)]).mean()
    torch.testing.assert_close(semantic_loss(vectors, prototypes, labels, 0.2), explicit)


def test_diffusion_and_generation_losses():
    prediction = torch.randn(3, 2, 6, 4, requires_grad=True)
    target = torch.randn(3, 2, 6, 4, requires_grad=True)
    loss = diffusion_loss(prediction, target)
    torch.testing.assert_close(loss, (prediction - target).square().mean())
    loss.backward()
    assert prediction.grad is not None and target.grad is None  # the target is detached
    logits, labels = torch.randn(4, 5), torch.tensor([0, 4, 2, 2])
    torch.testing.assert_close(generation_loss(logits, labels), F.cross_entropy(logits, labels))


# ---- the CoCoDiff auxiliary ---------------------------------------------------------------------

LAYOUT = "coco17"
NUM_CLASSES = 4
BACKBONES = ["ctrgcn", "stgcn"]


def recognizer(name: str):
    torch.manual_seed(0)
    model = build_backbone(name, LAYOUT, 3, NUM_CLASSES, base_channels=8)
    if name == "ctrgcn":  # alpha starts at 0 (see test_backbones); move it so every path is live
        for unit in model.encoder.units:
            unit.gcn1.alpha.data.fill_(0.5)
    return model


def batch(n: int = 4, t: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, t, 17, 3, generator=g), torch.tensor([0, 1, 2, 3, 1, 2, 0, 3][:n])


def auxiliary(model, *, latent="parts", text="both", seed=0, **options) -> CoCoDiff:
    config = MethodConfig(enabled=True, latent=latent, text=text, width=16, depth=1, heads=2,
                          num_steps=100, t_max=40, **options)
    torch.manual_seed(seed)
    return CoCoDiff(config, get_layout(LAYOUT), feature_dim=model.encoder.out_channels,
                    num_classes=NUM_CLASSES, text=fake_text(counts=(5, 3, 1, 2)))


def grads(loss, tensors):
    return torch.autograd.grad(loss, tensors, allow_unused=True, retain_graph=True)


def reaches(loss, tensors) -> bool:
    if not loss.requires_grad:  # a constant (the zero L_sem without semantics)
        return False
    return any(g is not None and g.abs().sum() > 0 for g in grads(loss, tensors))


@pytest.mark.parametrize("text", MODES)
@pytest.mark.parametrize("latent", KINDS)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_auxiliary_losses_and_gradient_paths(backbone, latent, text):
    model = recognizer(backbone).train()
    aux = auxiliary(model, latent=latent, text=text).train()
    x, labels = batch()
    torch.manual_seed(3)
    features = model.encoder.forward_features(x)
    losses = aux(features, labels, model.classifier)
    assert set(losses) == {"diff", "gen", "sem"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert losses["diff"] > 0 and losses["gen"] > 0
    no_sem = text == "none" or (latent == "pooled" and text == "fine")
    assert (losses["sem"] == 0) == no_sem
    assert (aux.coarse_head is None) == (text in ("none", "fine"))
    assert (aux.part_head is None) == (latent == "pooled" or text in ("none", "coarse"))

    encoder = [features, *model.encoder.parameters()]
    # grad_to_backbone=True (the default): the generated feature's losses reach the backbone
    assert reaches(losses["gen"], encoder)
    if not no_sem:
        assert reaches(losses["sem"], encoder)
    total = aux.weighted(losses)
    torch.testing.assert_close(total, losses["diff"] + 0.5 * losses["gen"] + 0.5 * losses["sem"])
    total.backward()
    assert sum(p.grad.abs().sum() for p in model.encoder.parameters() if p.grad is not None) > 0
    assert model.classifier.fc.weight.grad.abs().sum() > 0  # L_gen trains the shared classifier
    for name, p in aux.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("text", MODES)
@pytest.mark.parametrize("latent", KINDS)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_no_auxiliary_gradient_reaches_the_encoder_when_switched_off(backbone, latent, text):
    model = recognizer(backbone).train()
    aux = auxiliary(model, latent=latent, text=text, grad_to_backbone=False).train()
    x, labels = batch()
    torch.manual_seed(3)
    features = model.encoder.forward_features(x)
    losses = aux(features, labels, model.classifier)
    encoder = [features, *model.encoder.parameters()]
    for key in ("gen", "sem", "diff"):  # L_diff's target is detached: nothing reaches it at all
        assert not reaches(losses[key], encoder), key
    (losses["gen"] + losses["sem"] + losses["diff"]).backward()
    assert all(p.grad is None or (p.grad == 0).all() for p in model.encoder.parameters())
    # ... while the auxiliary itself and the shared classifier still learn
    assert model.classifier.fc.weight.grad.abs().sum() > 0
    assert aux.denoiser.output.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("latent", KINDS)
def test_scale_is_set_once_then_follows_an_ema(latent):
    model = recognizer("stgcn").eval()
    aux = auxiliary(model, latent=latent)
    assert aux.scale.item() == 0 and "scale" in aux.state_dict()
    with torch.no_grad():
        f1 = model.encoder.forward_features(batch(seed=1)[0])
        f2 = model.encoder.forward_features(batch(seed=2)[0]) * 3.0
        labels = batch()[1]
        rms1, rms2 = (aux.latent(f).pow(2).mean().sqrt().item() for f in (f1, f2))
        if latent == "pooled":  # independent of Latent: the classifier's pooled vector
            assert rms1 == pytest.approx(Classifier.pool(f1).pow(2).mean().sqrt().item(), rel=1e-5)
        aux.eval()(f1, labels, model.classifier)
        assert aux.scale.item() == 0  # evaluation never moves it
        aux.train()(f1, labels, model.classifier)
        assert aux.scale.item() == pytest.approx(rms1, rel=1e-5)
        aux(f2, labels, model.classifier)
        assert aux.scale.item() == pytest.approx(rms1 + 0.01 * (rms2 - rms1), rel=1e-5)
        aux(f2, labels, model.classifier)
        s2 = rms1 + 0.01 * (rms2 - rms1)
        assert aux.scale.item() == pytest.approx(s2 + 0.01 * (rms2 - s2), rel=1e-5)


def test_training_uses_normalised_latent_units():
    """Scaling the features leaves L_diff unchanged once the running scale has followed them."""
    model = recognizer("stgcn").eval()
    x, labels = batch()
    with torch.no_grad():
        features = model.encoder.forward_features(x)
        results = []
        for factor in (1.0, 100.0):
            aux = auxiliary(model).train()
            torch.manual_seed(5)
            results.append(aux(features * factor, labels, model.classifier)["diff"])
    torch.testing.assert_close(results[0], results[1], rtol=1e-4, atol=1e-6)


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
        aux.train()(features, labels, model.classifier)  # sets the scale
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
    scale = aux.scale
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(9))
    x_0 = aux.schedule.add_noise(real / scale, noise, torch.zeros(4, dtype=torch.long))
    with torch.no_grad():
        estimate = aux.denoise(x_0, torch.zeros(4, dtype=torch.long), labels, training=False) * scale
    torch.testing.assert_close(draw(9, start=0, steps=10), estimate, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_generate_with_an_oracle_denoiser(eta, monkeypatch):
    """With the x0 estimate replaced by an oracle, generation is pure schedule + scale plumbing."""
    model = recognizer("stgcn").eval()
    aux = auxiliary(model).eval()  # scale still 0: generate uses the batch RMS
    x, labels = batch()
    with torch.no_grad():
        features = model.encoder.forward_features(x)
    real = aux.latent(features)
    rms = real.pow(2).mean().sqrt()

    # A perfect estimate gives back the real latent, for any start.
    monkeypatch.setattr(aux, "denoise", lambda x_t, t, labels, training: real / rms)
    for start in (0, 20, 39, None):
        out = aux.generate(features, labels, start=start, eta=eta, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out, real, rtol=1e-5, atol=1e-6)
    assert aux.scale.item() == 0

    # A naive estimate (x_t / sqrt(abar_t), blind to the noise) keeps the drift the start allows:
    # small from t = 0, larger from t_max - 1.
    abar = aux.schedule.alphas_cumprod
    monkeypatch.setattr(aux, "denoise", lambda x_t, t, labels, training: x_t / abar[t[0]].sqrt().float())
    drift = {}
    for start in (0, 39):
        out = aux.generate(features, labels, start=start, eta=eta, generator=torch.Generator().manual_seed(0))
        drift[start] = ((out - real).norm() / real.norm()).item()
    # from t = 0 the output is real + rms * sqrt((1 - abar_0) / abar_0) * noise, noise ~ N(0, 1)
    expected = math.sqrt((1 - abar[0].item()) / abar[0].item())
    assert drift[0] == pytest.approx(expected, rel=0.2) and drift[0] < 0.05
    assert drift[39] > 3 * drift[0]


def test_auxiliary_owns_no_recogniser_weights():
    model = recognizer("ctrgcn")
    aux = auxiliary(model)
    count = sum(p.numel() for p in aux.parameters())
    assert count > 0
    recogniser_storage = {p.data_ptr() for p in model.parameters()} | {b.data_ptr() for b in model.buffers()}
    assert not recogniser_storage & {p.data_ptr() for p in aux.parameters()}
    assert not recogniser_storage & {b.data_ptr() for b in aux.buffers()}
    names = [name for name, _ in aux.named_parameters()]
    assert not any(name.startswith(("encoder", "classifier")) for name in names)
    # checkpointed: learnt weights and the running scale; text and layout constants are rebuilt
    assert set(aux.state_dict()) == {n for n in names} | {"scale"}
    assert {name.split(".")[0] for name in names} == {"denoiser", "coarse_head", "part_head"}


def test_auxiliary_rejects_text_for_another_number_of_classes():
    model = recognizer("stgcn")
    config = MethodConfig(enabled=True, width=16, depth=1, heads=2, num_steps=100, t_max=40)
    with pytest.raises(ValueError, match="classes"):
        CoCoDiff(config, get_layout(LAYOUT), feature_dim=model.encoder.out_channels, num_classes=3,
                 text=fake_text(counts=(5, 3, 1, 2)))
