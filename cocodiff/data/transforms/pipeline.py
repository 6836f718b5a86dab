"""Chaining transforms into one callable.

A step is any callable that takes a sample dict and returns a new one. Steps that need more
(a layout, a random generator, a window) get it bound beforehand with `functools.partial`, so a
pipeline reads as the plain list of what happens, in order::

    rng = np.random.default_rng(seed)
    train = compose(
        partial(pre_normalize, layout=layout),
        partial(random_crop_resize, rng=rng, window=64),
        partial(random_rotate, rng=rng, max_angle=0.3),
        partial(to_modality, layout=layout, name="bone"),
    )
    sample = train(sample)

Built from module-level functions and `partial`, a pipeline pickles, so it can travel to data
loader worker processes. A pickled generator travels with its state, though: every worker would
then draw the same numbers, so give each worker its own generator (for example in the loader's
worker_init_fn).
"""

from __future__ import annotations

from typing import Callable

from cocodiff.data.sample import Sample

Step = Callable[[Sample], Sample]


class Compose:
    """The steps applied one after another; `repr` lists them, for logs."""

    def __init__(self, *steps: Step):
        for step in steps:
            if not callable(step):
                raise TypeError(f"every pipeline step must be callable, got {step!r}")
        self.steps: tuple[Step, ...] = steps

    def __call__(self, sample: Sample) -> Sample:
        for step in self.steps:
            sample = step(sample)
        return sample

    def __repr__(self) -> str:
        inner = "".join(f"\n    {step!r}," for step in self.steps)
        return f"Compose({inner}\n)" if self.steps else "Compose()"


def compose(*steps: Step) -> Compose:
    """One callable that applies `steps` in order (with no steps it returns its input unchanged)."""
    return Compose(*steps)
