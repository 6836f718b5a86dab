"""The method's pieces around the denoiser: Latent (every layout, every kind, pools that match
the classifier's), ClassCondition (tokens, roles, sentence picks, prototypes, the label and
shuffled-text controls) and the three losses (soft targets included). The auxiliary that joins
them is tested in test_auxiliary.py.

Text embeddings are small random unit vectors; no text model is ever loaded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cocodiff.data.layouts import LAYOUTS, PART_NAMES, get_layout
from cocodiff.method.condition import FINE_FOR_PART, NUM_ROLES, ClassCondition
from cocodiff.method.latent import Latent
from cocodiff.method.losses import diffusion_loss, generation_loss, semantic_loss, text_similarity_targets
from cocodiff.method.text.corpus import FINE_PARTS
from cocodiff.models.base import Classifier
from tiny_runs import FAKE_TEXT_DIM as DIM
from tiny_runs import fake_text

KINDS = ["parts", "joints", "pooled"]
MODES = ["none", "coarse", "fine", "both"]


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


def test_label_mode_is_a_learned_class_embedding():
    condition = ClassCondition(None, "label", num_classes=4)
    labels = torch.tensor([0, 3, 3, 1])
    text, roles = condition.tokens(labels, random_sentence=True)
    assert text.shape == (4, 1, condition.text_dim) and roles.tolist() == [0]
    torch.testing.assert_close(text[1], text[2])
    assert not torch.allclose(text[0], text[1])
    assert not condition.uses_coarse and not condition.uses_fine  # no text, so no semantic loss
    assert {name for name, _ in condition.named_parameters()} == {"label_embedding.weight"}
    text.sum().backward()
    assert condition.label_embedding.weight.grad[[0, 1, 3]].abs().sum() > 0
    assert condition.label_embedding.weight.grad[2].abs().sum() == 0
    with pytest.raises(ValueError, match="number of classes"):
        ClassCondition(None, "label")


def test_shuffled_text_gives_every_class_another_class_text():
    text = fake_text(counts=(5, 3, 1, 2))
    plain = ClassCondition(text, "both")
    shuffled = ClassCondition(text, "both", shuffle=True)
    labels = torch.arange(4)
    own, _ = plain.tokens(labels, random_sentence=False)
    other, _ = shuffled.tokens(labels, random_sentence=False)
    for k in range(4):
        torch.testing.assert_close(other[k], own[(k - 1) % 4])
        assert not torch.allclose(other[k], own[k])
    torch.testing.assert_close(shuffled.part_prototypes, plain.part_prototypes.roll(1, 0))


def test_text_similarity_targets():
    prototypes = F.normalize(torch.tensor([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0]]), dim=-1)
    labels = torch.tensor([0, 2])
    targets = text_similarity_targets(prototypes, labels, temperature=0.1)
    torch.testing.assert_close(targets.sum(-1), torch.ones(2))
    assert targets[0, 0].item() == pytest.approx(targets[0, 1].item(), abs=0.02)  # near-identical texts share the target
    assert targets[0, 2] < 1e-4 and targets[1].argmax() == 2
    # a very low temperature is the one-hot target again
    torch.testing.assert_close(text_similarity_targets(prototypes, labels, 1e-5), F.one_hot(labels, 3).float())
    # per part: one target per part, from that part's prototypes alone
    per_part = torch.stack([prototypes, prototypes.roll(1, 0)], 1)  # (K, P, D)
    both = text_similarity_targets(per_part, labels, 0.1)
    assert both.shape == (2, 2, 3)
    torch.testing.assert_close(both[0], targets)


def test_soft_semantic_loss_does_not_ask_alike_texts_apart():
    """At the midpoint of two near-identical texts, one-hot targets still pull a vector towards
    its own class's text; soft targets are about satisfied there (their loss is about its floor,
    the targets' entropy, and the pull is much weaker)."""
    prototypes = F.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.995, 0.1, 0.0], [0.0, 0.0, 1.0]]), dim=-1)
    labels = torch.tensor([0])

    def loss_and_pull(soft):
        between = (prototypes[0] + prototypes[1])[None].clone().requires_grad_(True)
        loss = semantic_loss(between, prototypes, labels, 0.05, soft=soft)
        loss.backward()
        return loss.item(), between.grad.norm().item()

    (_, hard_pull), (soft_loss, soft_pull) = loss_and_pull(False), loss_and_pull(True)
    targets = text_similarity_targets(prototypes, labels, 0.05)[0]
    assert soft_loss == pytest.approx(-(targets * targets.log()).sum().item(), abs=0.01)
    assert soft_pull < 0.2 * hard_pull
