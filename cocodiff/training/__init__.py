"""Training machinery behind `python -m cocodiff.train`: the loop, the learning-rate schedule,
metrics logging and multi-process (torchrun) support."""
