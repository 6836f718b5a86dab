"""CoCoDiff: the training-only auxiliary (noise schedule, denoiser, text, losses).

Nothing here is needed to deploy a model: export and serving use `cocodiff.models` and the
checkpoint's `model` weights only.
"""
