"""One inference pipeline, built from the contract: the training pipeline without augmentation,
the same from a checkpoint and from an ONNX file's metadata, and NaN never reaches the model."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cocodiff.checkpoint import load_checkpoint
from cocodiff.config import load_config
from cocodiff.data.embedded import generate_clip
from cocodiff.data.frames import KINECT
from cocodiff.data.layouts import get_layout
from cocodiff.data.pipelines import InferencePipeline, SkeletonSource, train_pipeline
from cocodiff.data.retarget import retarget
from tiny_runs import contract_for, contract_of


@pytest.mark.parametrize("overrides", [
    [], ["data.modality=bone"], ["data.modality=joint_motion", "data.num_persons=2"],
    ["data.modality=bone_motion", "data.eval_crop_ratio=0.8", "data.window=40"], ["data.pre_normalize=false"],
])
def test_training_without_augmentation_is_the_inference_pipeline(overrides):
    data = load_config(overrides=["data.window=24", *overrides]).data
    sample = generate_clip("arm circles", np.random.default_rng(3), name="c")
    trained = train_pipeline(data, "ntu25", augment=False)(sample)
    assert np.array_equal(trained, InferencePipeline(contract_of(data))(sample))
    assert not np.array_equal(trained, train_pipeline(data, "ntu25")(sample, np.random.default_rng(0)))


def test_the_same_holds_for_2d_pose_with_a_score_channel(kinetics_dir):
    from cocodiff.data.readers.kinetics import read_kinetics_json

    sample = read_kinetics_json(next((kinetics_dir / "skeleton").glob("__*.json")))
    data = load_config(overrides=["data.window=30", "data.use_score=true", "data.num_persons=2",
                                  "data.pre_normalize=false"]).data
    expected = InferencePipeline(contract_of(data, "openpose18"))(sample)
    assert expected.shape == (2, 30, 18, 3)
    assert np.array_equal(train_pipeline(data, "openpose18", augment=False)(sample), expected)


def test_the_pipeline_from_an_onnx_file_is_the_checkpoints(tiny_model, ucla_dir):
    from cocodiff.data.readers.ucla import read_ucla_json
    from serve.backends.onnx_runtime import OnnxBackend

    checkpoint, onnx_file = tiny_model
    from_checkpoint = load_checkpoint(checkpoint)["contract"]
    from_onnx = OnnxBackend(onnx_file, device="cpu").contract
    assert from_onnx == from_checkpoint
    source = SkeletonSource("kinect20", KINECT)
    assert InferencePipeline(from_onnx, source) == InferencePipeline(from_checkpoint, source)
    sample = read_ucla_json(ucla_dir / "a04_s01_e02_v02.json")
    assert np.array_equal(InferencePipeline(from_onnx, source)(sample), InferencePipeline(from_checkpoint, source)(sample))
    # and a source pipeline is exactly: retarget, then the model's own pipeline
    assert np.array_equal(InferencePipeline(from_checkpoint, source)(sample),
                          InferencePipeline(from_checkpoint)(retarget(sample, "kinect20", "ntu25")))


def test_nan_and_infinity_make_their_joint_absent_and_never_reach_the_model():
    contract = contract_for(["a", "b"], modality="bone")
    sample = generate_clip("squat", np.random.default_rng(1), name="c")
    keypoint = sample["keypoint"].copy()
    keypoint[0, 5:9, 7] = np.nan
    keypoint[0, 12, 3, 1] = np.inf
    zeroed = keypoint.copy()
    zeroed[0, 5:9, 7] = 0.0
    zeroed[0, 12, 3] = 0.0
    pipeline = InferencePipeline(contract)
    out = pipeline({**sample, "keypoint": keypoint})
    assert np.isfinite(out).all()
    assert np.array_equal(out, pipeline({**sample, "keypoint": zeroed}))
    everything = np.full_like(keypoint, np.nan)
    assert not pipeline({**sample, "keypoint": everything}).any()  # nobody left: all zeros, still finite


def test_pipelines_pickle_and_compare_by_contract():
    contract = contract_for(["a"], window=20)
    pipeline = InferencePipeline(contract, SkeletonSource("kinect20", KINECT))
    copy = pickle.loads(pickle.dumps(pipeline))
    assert copy == pipeline and copy != InferencePipeline(contract)
    sample = {"keypoint": np.random.default_rng(0).normal(size=(1, 30, 20, 3)).astype(np.float32)}
    assert np.array_equal(copy(sample), pipeline(sample))
    assert get_layout(copy.contract.layout).num_joints == 25
