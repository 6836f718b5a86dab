"""The `model` section of the training config: which backbone, and its options.

`cocodiff.training.deployment.backbone_options` turns it into `build_recognizer`'s arguments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    backbone: str = "ctrgcn"  # a name in cocodiff.models.BACKBONES: ctrgcn or stgcn
    base_channels: int = 16  # published: 64
    dropout: float = 0.0  # before the classifier
    unit_dropout: float = 0.0  # ST-GCN only: inside every unit (its Kinetics recipe: 0.5)

    def rules(self) -> list[tuple[str, bool, str]]:
        """(field, whether its value is in range, the requirement) for this section's fields;
        `cocodiff.config.check_config` turns the first broken one into a one-line error."""
        from cocodiff.models.build import BACKBONES, encoder_fields  # the registry

        if self.backbone not in BACKBONES:
            return [("backbone", False, f"is not a backbone; choose one of {', '.join(BACKBONES)}")]
        return [
            ("base_channels", self.base_channels >= 4 and self.base_channels % 4 == 0,
             "must be a positive multiple of 4"),
            ("dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("unit_dropout", 0 <= self.unit_dropout < 1, "must be in [0, 1)"),
            ("unit_dropout", self.unit_dropout == 0 or "unit_dropout" in encoder_fields(self.backbone),
             f"is not an option of {self.backbone} (0 is the only value it takes)"),
        ]
