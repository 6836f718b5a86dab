"""The low-data regime: a class-stratified share of the training split, the same in every run."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cocodiff.config import DataConfig
from cocodiff.data.dataset import load_data, stratified_share


def samples(counts: dict[int, int]) -> list[dict]:
    return [{"frame_dir": f"c{label}_{i}", "label": label, "keypoint": np.zeros((1, 2, 3, 3))}
            for label, count in counts.items() for i in range(count)]


def test_each_class_keeps_its_share_and_at_least_one_clip():
    clips = samples({0: 40, 1: 20, 2: 3})
    kept = stratified_share(clips, 0.25)
    assert Counter(s["label"] for s in kept) == {0: 10, 1: 5, 2: 1}
    order = [s["frame_dir"] for s in clips]
    assert [order.index(s["frame_dir"]) for s in kept] == sorted(order.index(s["frame_dir"]) for s in kept)
    assert [s["frame_dir"] for s in stratified_share(clips, 0.25)] == [s["frame_dir"] for s in kept]
    assert [s["frame_dir"] for s in stratified_share(clips, 0.25, seed=1)] != [s["frame_dir"] for s in kept]
    assert stratified_share(clips, 1.0) == clips


@pytest.mark.slow
def test_load_data_applies_it_to_the_training_split_only():
    full = load_data(DataConfig())
    quarter = load_data(DataConfig(train_fraction=0.25))
    assert len(quarter.val) == len(full.val)
    assert abs(len(quarter.train) - len(full.train) / 4) <= len(full.classes)
    assert {s["label"] for s in quarter.train} == {s["label"] for s in full.train}
    names = {s["frame_dir"] for s in full.train}
    assert {s["frame_dir"] for s in quarter.train} <= names
