"""Class text as condition tokens and as prototypes, from precomputed text embeddings.

Every condition token has a *role*: the class name, one coarse sentence (description or
paraphrase), or the fine sentence of one body part. Which tokens a sample gets depends on the
text mode (the ablation switch):

    none   -> no text tokens (the denoiser still sees its learned null token)
    coarse -> [name, one coarse sentence drawn at random in training, the description in eval]
    fine   -> [head, hands, arms, torso, legs, feet]
    both   -> coarse tokens then fine tokens
    label  -> one learned embedding per class, no text (the control that asks whether the text
              does more than name the class: constant per-class text is, to a learned
              projection, no more than a label)

`shuffle` hands every class another class's text (a fixed cyclic shift), the control that asks
whether the text's content matters.

A class with only a name (GAP-style files) uses its name for both coarse tokens.

Prototypes for the semantic loss: a class's coarse prototype is the normalised mean of its coarse
sentences; the fine prototype of each *latent* body part (left arm, ...) is the normalised mean of
the fine sentences that describe it (arms and hands for an arm; legs and feet for a leg), since
the text names limbs without sides.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cocodiff.data.layouts import PART_NAMES
from cocodiff.method.text.corpus import FINE_PARTS

TextMode = Literal["none", "coarse", "fine", "both", "label"]
TEXT_MODES = ("none", "coarse", "fine", "both", "label")
LABEL_DIM = 32  # width of the learned label embedding (mode "label")
ROLE_NAME, ROLE_SENTENCE = 0, 1
NUM_ROLES = 2 + len(FINE_PARTS)  # name, sentence, then one role per fine part
# Which fine sentences describe each latent body part (layouts.PART_NAMES order).
FINE_FOR_PART = {"head": ("head",), "left_arm": ("arms", "hands"), "right_arm": ("arms", "hands"),
                 "torso": ("torso",), "left_leg": ("legs", "feet"), "right_leg": ("legs", "feet")}


class ClassCondition(nn.Module):
    """Per-class text embeddings as constant buffers; `tokens(labels)` picks each sample's.

    `text` is a `cocodiff.method.text.embeddings.TextEmbeddings` (None for modes "none" and
    "label"). The text buffers are not saved in checkpoints: the corpus and the embedding cache
    rebuild them. The label embedding (mode "label") is learned, so it is saved.
    """

    def __init__(self, text, mode: TextMode, *, num_classes: int = 0, shuffle: bool = False):
        super().__init__()
        if mode not in TEXT_MODES:
            raise ValueError(f"unknown text mode {mode!r} ({', '.join(TEXT_MODES)})")
        if mode not in ("none", "label") and text is None:
            raise ValueError(f"text mode {mode!r} needs text embeddings")
        self.mode = mode
        self.uses_coarse = mode in ("coarse", "both")
        self.uses_fine = mode in ("fine", "both")
        if mode == "label":
            if num_classes < 1:
                raise ValueError("text mode 'label' needs the number of classes")
            self.text_dim = LABEL_DIM
            self.label_embedding = nn.Embedding(num_classes, LABEL_DIM)
            self.register_buffer("roles", torch.tensor([ROLE_NAME]), persistent=False)
            return
        if text is None:
            self.text_dim = 1
            return
        order = torch.arange(len(text.classes))
        if shuffle:
            order = order.roll(1)  # class k gets class k-1's text; no class keeps its own
        coarse = torch.as_tensor(text.coarse, dtype=torch.float32)[order]
        count = torch.as_tensor(text.coarse_count, dtype=torch.long)[order]
        fine = torch.as_tensor(text.fine, dtype=torch.float32)[order]
        if (count < 1).any():
            raise ValueError("every class needs at least its name as coarse text")
        self.text_dim = coarse.shape[-1]
        self.register_buffer("coarse", coarse, persistent=False)
        self.register_buffer("coarse_count", count, persistent=False)
        self.register_buffer("fine", fine, persistent=False)
        valid = torch.arange(coarse.shape[1])[None, :] < count[:, None]
        mean = (coarse * valid[..., None]).sum(1) / count[:, None]
        self.register_buffer("coarse_prototypes", F.normalize(mean, dim=-1), persistent=False)
        index = {part: i for i, part in enumerate(FINE_PARTS)}
        per_part = [fine[:, [index[p] for p in FINE_FOR_PART[part]]].mean(1) for part in PART_NAMES]
        self.register_buffer("part_prototypes", F.normalize(torch.stack(per_part, 1), dim=-1), persistent=False)
        roles = []
        if self.uses_coarse:
            roles += [ROLE_NAME, ROLE_SENTENCE]
        if self.uses_fine:
            roles += [2 + i for i in range(len(FINE_PARTS))]
        self.register_buffer("roles", torch.tensor(roles, dtype=torch.long), persistent=False)

    def tokens(self, labels: Tensor, *, random_sentence: bool) -> tuple[Tensor, Tensor]:
        """(text (N, K, D), roles (K,)) for each sample's class; K = 0 in mode "none"."""
        n = labels.shape[0]
        if self.mode == "none":
            return labels.new_zeros(n, 0, self.text_dim, dtype=torch.float32), labels.new_zeros(0)
        if self.mode == "label":
            return self.label_embedding(labels)[:, None], self.roles
        parts = []
        if self.uses_coarse:
            count = self.coarse_count[labels]
            if random_sentence:  # one of description + paraphrases (indices 1 .. count-1)
                u = torch.rand(n, device=labels.device)
                pick = 1 + (u * (count - 1)).long()
            else:
                pick = torch.ones_like(labels)
            pick = torch.where(count > 1, pick, 0)  # a class with only its name (GAP files)
            parts += [self.coarse[labels, 0:1], self.coarse[labels, pick][:, None]]
        if self.uses_fine:
            parts.append(self.fine[labels])
        return torch.cat(parts, dim=1), self.roles
