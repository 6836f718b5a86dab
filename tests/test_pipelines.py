"""Pipelines (clip -> model input) and the training dataset: shapes, determinism, meta-only eval."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cocodiff.config import load_config
from cocodiff.data.dataset import SkeletonDataset, load_data
from cocodiff.data.embedded import generate_clip
from cocodiff.data.layouts import get_layout
from cocodiff.contract import DeploymentContract
from cocodiff.data.pipelines import InferencePipeline, train_pipeline
from cocodiff.errors import CocodiffError
from cocodiff.data.frames import KINECT
from cocodiff.training.loop import batch_order
from tiny_runs import contract_of


def clip(seed: int = 0):
    return generate_clip("squat", np.random.default_rng(seed), name=f"clip{seed}")


def data_config(*overrides):
    return load_config(overrides=["data.window=16", *overrides]).data


@pytest.mark.parametrize("modality", ["joint", "bone", "joint_motion", "bone_motion"])
@pytest.mark.parametrize("persons", [1, 2, 3])
def test_shapes_and_dtype(modality, persons):
    data = data_config(f"data.modality={modality}", f"data.num_persons={persons}")
    sample = clip()
    outputs = train_pipeline(data, "ntu25")(sample, np.random.default_rng(0)), InferencePipeline(contract_of(data))(sample)
    for output in outputs:
        assert output.shape == (persons, 16, 25, 3) and output.dtype == np.float32
        assert output.flags.c_contiguous and np.isfinite(output).all()
        if persons == 3:
            assert not output[2].any()  # padded slot stays empty


def test_2d_clips_and_other_layouts():
    layout = get_layout("coco17")
    rng = np.random.default_rng(0)
    keypoint = rng.uniform(100, 400, size=(1, 30, 17, 2)).astype(np.float32)
    data = data_config("data.num_persons=2")
    out = train_pipeline(data, layout)({"keypoint": keypoint}, rng)
    assert out.shape == (2, 16, 17, 2)
    assert InferencePipeline(contract_of(data, "coco17"))({"keypoint": keypoint}).shape == (2, 16, 17, 2)


def test_train_pipeline_is_deterministic_given_the_generator():
    pipeline, sample = train_pipeline(data_config(), "ntu25"), clip()
    a = pipeline(sample, np.random.default_rng(5))
    assert np.array_equal(a, pipeline(sample, np.random.default_rng(5)))
    assert not np.array_equal(a, pipeline(sample, np.random.default_rng(6)))
    assert np.array_equal(sample["keypoint"], clip()["keypoint"])  # the input is never modified


def test_no_augmentation_knobs():
    data = data_config("data.rotate=0", "data.crop_ratio=[1, 1]", "data.pre_normalize=false")
    sample = clip()
    a = train_pipeline(data, "ntu25")(sample, np.random.default_rng(1))
    b = train_pipeline(data, "ntu25")(sample, np.random.default_rng(2))
    assert np.array_equal(a, b)  # nothing random is left
    assert np.allclose(a[0, 0], sample["keypoint"][0, 0])  # raw coordinates, first frame kept


def test_inference_pipeline_from_the_contract_alone():
    data = data_config("data.eval_crop_ratio=0.8", "data.modality=bone")
    contract = contract_of(data)
    sample = clip()
    a = InferencePipeline(contract)(sample)
    # The contract survives a checkpoint-style round trip as plain builtins.
    rebuilt = DeploymentContract.from_dict(pickle.loads(pickle.dumps(contract.to_dict())))
    assert InferencePipeline(rebuilt) == InferencePipeline(contract)
    assert np.array_equal(InferencePipeline(rebuilt)(sample), a)
    other = InferencePipeline(contract.replace(eval_crop_ratio=1.0))
    assert other != InferencePipeline(contract) and not np.array_equal(a, other(sample))
    with pytest.raises(CocodiffError, match="lacks field.* window"):
        DeploymentContract.from_dict({k: v for k, v in contract.to_dict().items() if k != "window"})


def test_train_pipeline_pickles_for_loader_workers():
    pipeline = train_pipeline(data_config(), "ntu25")
    again = pickle.loads(pickle.dumps(pipeline))
    sample = clip()
    assert np.array_equal(pipeline(sample, np.random.default_rng(3)), again(sample, np.random.default_rng(3)))
    assert "window=16" in repr(pipeline)


def test_dataset_items_depend_on_seed_epoch_and_index_only():
    samples = [clip(seed=i) for i in range(4)]
    dataset = SkeletonDataset(samples, train_pipeline(data_config(), "ntu25"), seed=3, augment=True)
    forward = [dataset[(1, i)][0] for i in range(4)]
    backward = [dataset[(1, i)][0] for i in reversed(range(4))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))
    assert not torch.equal(dataset[(1, 0)][0], dataset[(2, 0)][0])  # a new epoch, new augmentation
    other_seed = SkeletonDataset(samples, dataset.pipeline, seed=4, augment=True)
    assert not torch.equal(dataset[(1, 0)][0], other_seed[(1, 0)][0])
    assert dataset[(1, 2)][1] == samples[2]["label"]
    # Loader workers prepare the same items as the main process.
    keys = [[(1, 0), (1, 1)], [(1, 2), (1, 3)]]
    plain = [x for x, _ in DataLoader(dataset, batch_sampler=keys)]
    workers = [x for x, _ in DataLoader(dataset, batch_sampler=keys, num_workers=1)]
    assert all(torch.equal(a, b) for a, b in zip(plain, workers))


def test_batch_order():
    a = batch_order(0, 3, 10, 4)
    assert a == batch_order(0, 3, 10, 4) and a != batch_order(0, 4, 10, 4)
    assert [len(b) for b in a] == [4, 4]  # the incomplete batch is dropped
    assert len(set(sum(a, []))) == 8


def test_load_data_checks_layout(tmp_path):
    from cocodiff.data.annotations import save_annotations
    from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations

    content = embedded_annotations(EmbeddedConfig(train_per_class=1, test_per_class=1))
    path = tmp_path / "d.pkl"
    save_annotations(content, path)
    splits = load_data(load_config(overrides=[f"data.dataset={path}"]).data)
    k = len(content["meta"]["classes"])
    assert (len(splits.train), len(splits.val), splits.layout.name, splits.in_channels) == (k, k, "ntu25", 3)
    assert splits.classes == content["meta"]["classes"]
    with pytest.raises(CocodiffError, match="holds layout 'ntu25' but the config asks for data.layout='kinect20'"):
        load_data(load_config(overrides=[f"data.dataset={path}", "data.layout=kinect20"]).data)
    content["meta"] = {}  # a PYSKL-style file: the config names the layout and frame rate
    save_annotations(content, path)
    with pytest.raises(CocodiffError, match="25 joints per frame, but layout 'kinect20' has 20"):
        load_data(load_config(overrides=[f"data.dataset={path}", "data.layout=kinect20"]).data)
    with pytest.raises(CocodiffError, match="does not record its frame rate .*set data.fps"):
        load_data(load_config(overrides=[f"data.dataset={path}", "data.layout=ntu25"]).data)
    plain = load_data(load_config(overrides=[f"data.dataset={path}", "data.layout=ntu25", "data.fps=25"]).data)
    assert plain.classes[0] == "class 0" and plain.fps == 25 and plain.person_order == "recorded"
    assert plain.frame == KINECT  # 3D data that names no frame: the Kinect camera frame
    with pytest.raises(CocodiffError, match="no split 'xsub_train'"):
        load_data(load_config(overrides=[f"data.dataset={path}", "data.layout=ntu25", "data.fps=30",
                                         "data.train_split=xsub_train"]).data)


def test_class_names_come_from_a_file_and_inferred_counts_are_said(tmp_path):
    from cocodiff.data.annotations import save_annotations
    from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations

    content = embedded_annotations(EmbeddedConfig(train_per_class=1, test_per_class=1))
    content["meta"] = {}  # as PYSKL writes it: no names
    path = tmp_path / "pyskl.pkl"
    save_annotations(content, path)
    base = [f"data.dataset={path}", "data.layout=ntu25", "data.fps=30"]
    plain = load_data(load_config(overrides=base).data)
    k = len(plain.classes)
    assert k == 18 and plain.classes == [f"class {i}" for i in range(k)]
    assert plain.notes == (f"{path} names no classes: {k} inferred from labels 0..{k - 1}; name them with data.classes=FILE",)
    names = tmp_path / "names.txt"
    names.write_text("# my classes\n" + "".join(f"action {i}\n" for i in range(18)) + "\n")
    named = load_data(load_config(overrides=base + [f"data.classes={names}"]).data)
    assert named.classes == [f"action {i}" for i in range(18)] and "class names from" in named.notes[0]
    names.write_text("only one\n")
    with pytest.raises(CocodiffError, match="names.txt: names 1 classes, but .* has label 17"):
        load_data(load_config(overrides=base + [f"data.classes={names}"]).data)
    names.write_text("a\nb\na\n")
    with pytest.raises(CocodiffError, match="names class 'a' twice"):
        load_data(load_config(overrides=base + [f"data.classes={names}"]).data)
    with pytest.raises(CocodiffError, match="nowhere.txt: no such file"):
        load_data(load_config(overrides=base + [f"data.classes={tmp_path / 'nowhere.txt'}"]).data)
    # A stray label leaves most of the inferred range empty: refused, not a 1000-class model.
    content["annotations"][0]["label"] = 999
    save_annotations(content, path)
    with pytest.raises(CocodiffError, match="labels run to 999 with 981 of 0..999 unused; a stray label"):
        load_data(load_config(overrides=base).data)
    # A few classes without clips are only said.
    for sample in content["annotations"]:
        sample["label"] = {999: 0, 3: 19}.get(sample["label"], sample["label"])
    save_annotations(content, path)
    gappy = load_data(load_config(overrides=base).data)
    assert len(gappy.classes) == 20 and "(2 with no clip)" in gappy.notes[0]


def test_use_score_appends_confidence_as_a_channel(kinetics_dir, tmp_path):
    """2D pose with confidence (Kinetics): (x, y) + score = 3 input channels, in train and eval."""
    from cocodiff.data.convert import ConversionReport
    from cocodiff.data.readers.kinetics import kinetics_annotations

    folder = kinetics_dir / "skeleton"
    content = kinetics_annotations({"val": (folder, folder / "kinetics_val_label.json")}, ConversionReport())
    path = tmp_path / "k.pkl"
    pickle.dump(content, path.open("wb"))
    data = load_config(overrides=[f"data.dataset={path}", "data.train_split=val", "data.val_split=val",
                                  "data.use_score=true", "data.window=20", "data.pre_normalize=false",
                                  "data.num_persons=2"]).data
    splits = load_data(data)
    assert splits.in_channels == 3 and splits.layout.name == "openpose18"
    sample = splits.val[0]
    contract = contract_of(data, "openpose18", classes=splits.classes)
    assert contract.frame == splits.frame and contract.in_channels == splits.in_channels
    for output in (train_pipeline(data, splits.layout)(sample, np.random.default_rng(0)),
                   InferencePipeline(contract)(sample)):
        assert output.shape == (2, 20, 18, 3)
        present = np.abs(output[..., :2]).sum(-1) > 0
        assert (output[..., 2][~present] == 0).all() and (output[..., 2][present] > 0).mean() > 0.9
    no_score = dict(content)
    no_score["annotations"] = [{k: v for k, v in s.items() if k != "keypoint_score"} for s in content["annotations"]]
    pickle.dump(no_score, path.open("wb"))
    with pytest.raises(CocodiffError, match="use_score=true, but sample .* has no keypoint_score"):
        load_data(data)
