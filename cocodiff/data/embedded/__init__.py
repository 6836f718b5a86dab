"""The built-in procedural dataset: simulated people doing whole-body actions, NTU-25 layout.

`embedded_annotations(EmbeddedConfig())` builds it in memory in a few seconds; see `dataset`.
"""

from cocodiff.data.embedded.actions import CLASSES
from cocodiff.data.embedded.dataset import EmbeddedConfig, embedded_annotations, embedded_clip, generate_clip

__all__ = ["CLASSES", "EmbeddedConfig", "embedded_annotations", "embedded_clip", "generate_clip"]
