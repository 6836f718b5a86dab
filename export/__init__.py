"""Deployment artefacts from a checkpoint: the encoder + classifier only, as ONNX and TensorRT.

Depends on `cocodiff.checkpoint`, `cocodiff.models` and `cocodiff.data` (layouts, transforms):
never on `cocodiff.method` or training code. The auxiliary a checkpoint may carry is never read.
"""
