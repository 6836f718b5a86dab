"""The live recogniser on real recordings, frame by frame: the same label as the offline
evaluation after a whole clip, people kept in their slots, the stream's rules (warm-up, stride,
smoothing, unknown, gaps) and bad frames that leave the stream as it was."""

from __future__ import annotations

import numpy as np
import pytest

from cocodiff.checkpoint import save_checkpoint
from cocodiff.data.frames import KINECT, MEDIAPIPE_WORLD, CoordinateFrame, convert_points
from cocodiff.data.pipelines import InferencePipeline, SkeletonSource
from cocodiff.models import build_recognizer
from serve.backends import ModelRunError, open_backend
from serve.buffer import ClipBuffer
from serve.playback import frames_of, play
from serve.recognizer import RECOGNISED, UNKNOWN, WARMING_UP, LiveConfig, LiveRecognizer
from serve.stream import FrameError
from serve.tracker import PersonTracker
from tiny_runs import calibrated_checkpoint, calibration_clips, contract_for

WHOLE_CLIP = LiveConfig(seconds=60.0, smoothing=1, threshold=0.0)  # sees all of any test clip


@pytest.fixture(scope="module")
def backends(tiny_model):
    pytest.importorskip("onnxruntime")
    checkpoint, onnx_file = tiny_model
    return {"pytorch": open_backend(checkpoint, device="cpu"), "onnxruntime": open_backend(onnx_file, device="cpu")}


def offline(backend, sample, source: SkeletonSource) -> np.ndarray:
    """The offline evaluation's probabilities for the whole clip."""
    logits = backend.predict(InferencePipeline(backend.contract, source)(sample)[None])[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    return probabilities / probabilities.sum()


def assert_live_equals_offline(backend, sample, source, fps):
    recognizer = LiveRecognizer(backend, source, WHOLE_CLIP)
    last = play(recognizer, sample, fps)[-1]
    expected = offline(backend, sample, source)
    (person,) = last.persons
    assert last.predicted and person.status == RECOGNISED
    assert person.label == backend.contract.classes[int(np.argmax(expected))]
    assert person.confidence == pytest.approx(float(expected.max()), abs=1e-5)


@pytest.fixture(scope="module")
def real_clips(ucla_dir, ntu_dir, shared_data):
    """(sample, source) of real recordings: NW-UCLA and UTD-MHAD (kinect20), NTU RGB+D (ntu25)."""
    from cocodiff.data.readers.ntu import read_ntu_skeleton
    from cocodiff.data.readers.ucla import read_ucla_json
    from cocodiff.data.readers.utd import read_utd_mat

    kinect20, ntu25 = SkeletonSource("kinect20", KINECT), SkeletonSource("ntu25", KINECT)
    clips = [(read_ucla_json(path), kinect20) for path in sorted(ucla_dir.glob("a*_s0[12]_e00_v01.json"))[::2]]
    clips += [(read_utd_mat(shared_data / "utd_mhad" / f"{name}_skeleton.mat"), kinect20)
              for name in ("a3_s1_t1", "a13_s2_t3", "a22_s4_t1", "a27_s5_t2")]
    clips += [(read_ntu_skeleton(path), ntu25) for path in sorted((ntu_dir / "skeleton").glob("*A00*.skeleton"))]
    return clips


def test_the_test_model_tells_clips_apart(backends, real_clips):
    """Otherwise "the same label as offline" would hold whatever the recogniser did."""
    backend = backends["onnxruntime"]
    probabilities = np.stack([offline(backend, sample, source) for sample, source in real_clips])
    assert len({int(np.argmax(p)) for p in probabilities}) >= 4
    assert np.median(probabilities.max(axis=1)) < 0.9


@pytest.mark.parametrize("kind", ["pytorch", "onnxruntime"])
def test_after_a_whole_clip_the_live_label_is_the_offline_one(kind, backends, real_clips):
    for sample, source in real_clips:
        assert_live_equals_offline(backends[kind], sample, source, 30.0)


def test_a_stream_in_another_frame_and_rate_gives_nearly_the_same_clip(backends, ucla_dir):
    """The same recording sent at 15 fps with MediaPipe's axes: the buffer resamples it to the
    model's 30 fps, the intake turns it back into the Kinect frame."""
    from cocodiff.data.readers.ucla import read_ucla_json

    sample = read_ucla_json(ucla_dir / "a01_s01_e00_v01.json")
    full = ClipBuffer(1, 20, 3, seconds=60, fps=30.0)
    half = ClipBuffer(1, 20, 3, seconds=60, fps=30.0)
    ones = np.ones((1, 20), np.float32)
    for t, persons, _ in frames_of(sample, 30.0):
        full.append(t, persons, ones)
    frames = sample["keypoint"].shape[1]
    odd = frames % 2 == 1  # end both on the same frame
    for t, persons, _ in frames_of({"keypoint": sample["keypoint"][:, (0 if odd else 1)::2]}, 15.0,
                                   start=0.0 if odd else 1 / 30):
        half.append(t, persons, ones)
    a, b = full.clip()["keypoint"], half.clip()["keypoint"]
    assert np.array_equal(a, sample["keypoint"])  # an even stream at the model's rate passes unchanged
    a = a[:, -b.shape[1]:]  # the half-rate stream may start a frame later
    # every other frame is interpolated in time: off by about a centimetre (this Kinect v1 clip
    # jitters by up to 35 cm between frames, which no interpolation recovers)
    assert b.shape[1] >= frames - 1 and np.abs(a - b).mean() < 0.02 and np.array_equal(a[:, -1], b[:, -1])
    image_axes = CoordinateFrame("right", "down", "away", "metres", "camera")  # MediaPipe's axes, Kinect's origin
    world = convert_points(sample["keypoint"], KINECT, image_axes)
    intake = LiveRecognizer(backends["onnxruntime"], SkeletonSource("ntu25", image_axes)).intake
    kinect = LiveRecognizer(backends["onnxruntime"], SkeletonSource("ntu25", KINECT)).intake
    padded = np.zeros((1, 25, 3), np.float32)
    padded[0, :20] = world[0, 0]
    back = np.zeros((1, 25, 3), np.float32)
    back[0, :20] = sample["keypoint"][0, 0]
    assert np.allclose(intake.frame(0.0, padded).persons, kinect.frame(0.0, back).persons, atol=1e-6)


def test_epoch_timestamps_pass_through_unchanged(ucla_dir):
    from cocodiff.data.readers.ucla import read_ucla_json

    sample = read_ucla_json(ucla_dir / "a02_s03_e01_v02.json")
    buffer = ClipBuffer(1, 20, 3, seconds=60, fps=30.0)
    for t, persons, _ in frames_of(sample, 30.0, start=1_764_612_345.678):  # a Unix time, as a camera stamps it
        buffer.append(t, persons, np.ones((1, 20), np.float32))
    clip = buffer.clip()
    assert np.array_equal(clip["keypoint"], sample["keypoint"])
    assert clip["timestamps"][-1] == pytest.approx(1_764_612_345.678 + (sample["keypoint"].shape[1] - 1) / 30)


def test_the_buffer_keeps_the_last_seconds_on_an_even_grid():
    buffer = ClipBuffer(1, 2, 3, seconds=1.0, fps=10.0)
    times = [0.0, 0.05, 0.31, 0.4, 0.93, 1.2, 1.55]  # uneven, as a late detector delivers them
    for t in times:
        buffer.append(t, np.full((1, 2, 3), t, np.float32), np.ones((1, 2), np.float32))
    clip = buffer.clip()
    assert np.allclose(clip["timestamps"], np.arange(0.55, 1.5501, 0.1))  # 1 s back from the newest frame
    values = clip["keypoint"][0, :, 0, 0]
    assert np.allclose(values, np.interp(clip["timestamps"], times, times), atol=1e-6)  # linear in time
    assert buffer.span() == pytest.approx(1.55 - 0.4)  # the oldest kept frame is at or before the start


def test_the_tracker_keeps_slots_when_the_order_swaps():
    tracker = PersonTracker(2)
    a = np.zeros((25, 3), np.float32)
    a[:, 1] = np.linspace(0, 1.7, 25)
    b = a + [1.0, 0.0, 0.2]
    assert tracker.assign(0.0, np.stack([a, b])) == [0, 1]
    for step in range(1, 6):
        moved_a, moved_b = a + [0.01 * step, 0, 0], b - [0.01 * step, 0, 0]
        assert tracker.assign(step / 30, np.stack([moved_b, moved_a])) == [1, 0]
    assert tracker.assign(0.3, np.stack([a, b, b + 3.0])) == [0, 1, None]  # a third person: no slot left
    assert tracker.forget(1.25) == [] and tracker.forget(1.4) == [0, 1]
    assert tracker.assign(1.5, np.stack([b + 2.0])) == [0]  # far from everybody: a new person
    assert tracker.tracks[0].id == 2


def test_the_tracker_follows_a_sensor_jump_but_not_a_stranger():
    """Kinect v1 sometimes throws a body a metre or more between two frames (NW-UCLA a04_s01_e00_v01
    at frame 63, 3.7 body sizes): seen the frame before, it is the same person; after a pause, a
    body that far away is somebody else."""
    tracker = PersonTracker(2)
    a = np.zeros((25, 3), np.float32)
    a[:, 1] = np.linspace(0, 1.7, 25)
    size = float(np.sqrt(((a - a.mean(0)) ** 2).sum(1).mean()))
    assert tracker.assign(0.0, a[None]) == [0]
    assert tracker.assign(1 / 30, (a + [3 * size, 0, 0])[None]) == [0]  # jumped, seen a frame ago: the same
    assert tracker.assign(2 / 30, np.zeros((0, 25, 3))) == []  # a frame with nobody
    assert tracker.assign(3 / 30, (a + [6 * size, 0, 0])[None]) == [1]  # 3 sizes on, after a gap: a stranger
    assert [track.id for track in tracker.tracks] == [0, 1]


def test_a_real_kinect_glitch_keeps_one_person_in_one_slot(ucla_dir):
    from cocodiff.data.readers.ucla import read_ucla_json

    sample = read_ucla_json(ucla_dir / "a04_s01_e00_v01.json")
    tracker = PersonTracker(2)
    assert {tuple(tracker.assign(t, persons)) for t, persons, _ in frames_of(sample, 30.0)} == {(0,)}


@pytest.fixture(scope="module")
def handshake(ntu_dir):
    from cocodiff.data.readers.ntu import read_ntu_skeleton

    sample = read_ntu_skeleton(ntu_dir / "skeleton" / "S001C003P008R002A058.skeleton")
    assert (np.abs(sample["keypoint"]).sum(axis=(2, 3)) > 0).all(axis=0).sum() > 20  # both bodies in view
    return sample


def swapped_frames(sample):
    """The handshake as a detector that lists the two people in a changing order would send it."""
    for index, (t, persons, scores) in enumerate(frames_of(sample, 30.0)):
        yield t, persons[::-1] if index % 3 else persons, scores


def test_the_handshake_bodies_keep_their_slots_when_their_order_swaps(backends, handshake):
    backend = backends["pytorch"]
    steady, shuffled = (LiveRecognizer(backend, config=LiveConfig(seconds=60)) for _ in range(2))
    for (t, persons, _), (_, swapped, _) in zip(frames_of(handshake, 30.0), swapped_frames(handshake)):
        a, b = steady.push(t, persons), shuffled.push(t, swapped)
        assert [p.track for p in a.persons] == [p.track for p in b.persons]
        assert [(p.label, round(p.confidence, 6)) for p in a.persons] == \
            [(p.label, round(p.confidence, 6)) for p in b.persons]
    assert np.array_equal(steady.buffer.clip()["keypoint"], shuffled.buffer.clip()["keypoint"])
    kept = steady.buffer.clip()["keypoint"]
    for slot in range(2):  # each slot holds one body of the recording, whole
        body = handshake["keypoint"][slot]
        present = np.abs(body).sum(axis=(1, 2)) > 0
        assert np.array_equal(kept[slot][present], body[present])


def test_each_person_sent_is_told_their_slot(backends, handshake):
    """`update.slots` follows the frame as sent: a person left with too few joints (dropped by the
    intake) is None, the others keep their slots whatever their order in the frame."""
    recognizer = LiveRecognizer(backends["onnxruntime"], config=LiveConfig(seconds=60))
    frames = list(frames_of(handshake, 30.0))
    (t0, persons, _), (t1, later, _) = frames[0], frames[1]
    first = recognizer.push(t0, persons)
    assert sorted(first.slots) == [0, 1]
    ghost = np.zeros_like(later[:1])  # nobody: every joint absent
    second = recognizer.push(t1, np.concatenate([later[::-1], ghost]))
    assert second.slots == (first.slots[1], first.slots[0], None)


class RecordingBackend:
    """A backend that keeps every batch it is given; optionally fails on the calls named."""

    def __init__(self, backend, fail_on=()):
        self.backend, self.contract, self.batches, self.fail_on, self.calls = backend, backend.contract, [], fail_on, 0

    def predict(self, batch):
        self.calls += 1
        if self.calls in self.fail_on:
            raise ModelRunError("the runtime failed (a test)")
        self.batches.append(batch.copy())
        return self.backend.predict(batch)


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory):
    """An NTU-style model: two person slots, bodies ranked by motion, window 32."""
    path = tmp_path_factory.mktemp("pair") / "pair.pt"
    calibrated_checkpoint(path, calibration_clips(persons=2, window=32), num_persons=2, person_order="motion",
                          window=32, classes=[f"c{i}" for i in range(5)])
    return open_backend(path, device="cpu")


def test_a_two_person_model_sees_both_in_its_training_order(handshake, pair_model):
    """After the whole handshake, the model's input is the offline evaluation's, slot for slot
    (the more active body first, as NTU's preprocessing ranks them), whatever order the detector
    lists the two people in; the group label is the offline one."""
    expected_input = InferencePipeline(pair_model.contract)(handshake)
    expected = offline(pair_model, handshake, SkeletonSource("ntu25", KINECT))
    for frames in (frames_of(handshake, 30.0), swapped_frames(handshake)):
        recording = RecordingBackend(pair_model)
        recognizer = LiveRecognizer(recording, config=WHOLE_CLIP)
        for t, persons, _ in frames:
            recognizer.push(t, persons)
        last = recognizer.flush()
        assert np.array_equal(recording.batches[-1][0], expected_input)
        assert last.joint and len(last.persons) == 2
        assert {p.label for p in last.persons} == {pair_model.contract.classes[int(np.argmax(expected))]}
        assert last.persons[0].confidence == pytest.approx(float(expected.max()), abs=1e-5)


def test_a_third_person_beyond_the_models_slots_gets_no_label(handshake, pair_model):
    recognizer = LiveRecognizer(pair_model, config=LiveConfig(seconds=2.0, warmup_seconds=0.0, max_persons=3,
                                                              threshold=0.0, stride_frames=1))
    # NTU's activity measure is the variance of all of a body's joint positions over the clip: a
    # still, half-size body 2.5 m further back is the least active of the three.
    first = handshake["keypoint"][:1, 0]
    bystander = 0.5 * (first - first.mean(axis=1, keepdims=True)) + first.mean(axis=1, keepdims=True) + [0, 0, 2.5]
    for t, persons, _ in list(frames_of(handshake, 30.0))[:20]:
        update = recognizer.push(t, np.concatenate([persons, bystander.astype(np.float32)]))
    assert len(update.persons) == 3 and update.predicted
    labelled = [p for p in update.persons if p.status == RECOGNISED]
    assert len(labelled) == 2 and {p.track for p in labelled} == {0, 1}  # the two who move, not the bystander
    assert [p.status for p in update.persons if p.track == 2] == [WARMING_UP]


def synthetic_person(t: float) -> np.ndarray:
    pose = np.zeros((25, 3), np.float32)
    pose[:, 1] = np.linspace(0.0, 1.7, 25)
    pose[:, 0] = 0.2 * np.sin(2 * np.pi * t) * np.linspace(0, 1, 25)
    pose[:, 2] = 3.0
    return pose


def test_warm_up_stride_and_gap_reset(backends):
    backend = backends["onnxruntime"]
    default = LiveRecognizer(backend)  # the contract's clips last 2 s: see 2 s, label after 1 s
    assert (default.seconds, default.warmup_seconds) == (2.0, 1.0)
    config = LiveConfig(seconds=1.0, warmup_seconds=0.5, stride_seconds=0.25, smoothing=2, threshold=0.0,
                        gap_seconds=0.5)
    recognizer = LiveRecognizer(backend, config=config)
    updates = [recognizer.push(i / 30, synthetic_person(i / 30)) for i in range(45)]
    predicted = [u.timestamp for u in updates if u.predicted]
    assert predicted[0] == pytest.approx(15 / 30)  # the first prediction once 0.5 s were seen
    assert np.allclose(np.diff(predicted), 0.25, atol=1 / 30 + 1e-9)
    assert all(u.persons[0].status == WARMING_UP for u in updates[:15])
    assert all(u.persons[0].status == RECOGNISED for u in updates[15:])
    gap = [recognizer.push(1.5 + i / 30, np.zeros((0, 25, 3))) for i in range(3)]  # nobody: a gap
    assert not any(u.reset for u in gap) and gap[0].persons  # short gap: still tracked
    back = recognizer.push(2.2, synthetic_person(2.2))  # 0.7 s after the last sighting
    assert back.reset and back.persons[0].status == WARMING_UP and back.persons[0].track == 1


def test_smoothing_and_the_unknown_state(backends):
    """On frames of an embedded clip, where the test model's probabilities are spread out."""
    from cocodiff.data.embedded import generate_clip

    backend = backends["onnxruntime"]
    frames = generate_clip("arm circles", np.random.default_rng(7), name="c")["keypoint"][0, 20:]
    sure = LiveRecognizer(backend, config=LiveConfig(seconds=1.0, warmup_seconds=0.0, threshold=0.0))
    update = sure.push(0.0, frames[0])
    assert update.predicted and update.persons[0].status == RECOGNISED
    assert sum(probability for _, probability in update.persons[0].top) <= 1.0 + 1e-9
    never = LiveRecognizer(backend, config=LiveConfig(seconds=1.0, warmup_seconds=0.0, threshold=1.0))
    person = never.push(0.0, frames[0]).persons[0]
    assert person.confidence < 1.0 and person.status == UNKNOWN and person.label is None
    assert person.top[0][0] in backend.contract.classes
    every = len(backend.contract.classes)  # top_k = all classes: every probability is reported
    smoothed, raw = (LiveRecognizer(backend, config=LiveConfig(seconds=1.0, warmup_seconds=0.0, smoothing=n,
                                                               stride_frames=1, threshold=0.0, top_k=every))
                     for n in (3, 1))
    history = []
    for i in range(4):
        last = smoothed.push(i / 30, frames[3 * i]).persons[0]
        history.append(dict(raw.push(i / 30, frames[3 * i]).persons[0].top))
    assert len({h[last.top[0][0]] for h in history}) == 4  # the four predictions differ
    for label, value in last.top:  # the mean of the last three predictions, not of all four
        assert value == pytest.approx(np.mean([h[label] for h in history[-3:]]), abs=1e-9)


@pytest.mark.parametrize("timestamp, persons, scores, message", [
    (0.0, np.zeros((1, 25, 3)), None, "not after the previous frame"),
    (float("nan"), np.zeros((1, 25, 3)), None, "timestamp must be finite"),
    ("soon", np.zeros((1, 25, 3)), None, "timestamp must be a number"),
    (2.0, np.zeros((1, 20, 3)), None, r"persons of shape \[1, 20, 3\]; layout ntu25 in 3D takes \(P, 25, 3\)"),
    (2.0, np.zeros((1, 25, 2)), None, "takes"),
    (2.0, [["a"]], None, "persons must be a numeric array"),
    (2.0, np.zeros((2, 25, 3)), np.ones((3, 25)), "scores of shape"),
])
def test_a_bad_frame_is_one_error_and_the_stream_goes_on(backends, timestamp, persons, scores, message):
    backend = backends["onnxruntime"]
    live, clean = (LiveRecognizer(backend, config=LiveConfig(seconds=1.0, stride_frames=1)) for _ in range(2))
    for recognizer in (live, clean):
        recognizer.push(0.0, synthetic_person(0.0))
    with pytest.raises(FrameError, match=message) as error:
        live.push(timestamp, persons, scores)
    assert "\n" not in str(error.value)
    for i in range(1, 20):  # afterwards the stream is exactly the one that never saw the bad frame
        a, b = live.push(i / 30, synthetic_person(i / 30)), clean.push(i / 30, synthetic_person(i / 30))
        assert a == b


def test_nan_joints_are_absent_and_an_empty_frame_is_a_gap(backends):
    recognizer = LiveRecognizer(backends["onnxruntime"], config=LiveConfig(seconds=1.0, stride_frames=1))
    pose = synthetic_person(0.0)
    pose[3] = np.nan
    pose[4, 1] = np.inf
    update = recognizer.push(0.0, pose)
    assert update.dropped_joints == 2
    stored = recognizer.buffer.clip()["keypoint"][0, -1]
    assert np.isfinite(stored).all() and not stored[3].any() and not stored[4].any()
    empty = recognizer.push(0.1, np.zeros((0, 25, 3)))
    assert not empty.reset and len(recognizer.buffer) == 2
    nobody = recognizer.push(0.2, np.full((1, 25, 3), np.nan))  # all joints unusable: nobody
    assert nobody.dropped_joints == 25 and len(nobody.persons) == 1  # the person is still tracked


def test_a_2d_model_needs_scores_and_3d_to_2d_is_refused(tmp_path):
    options = {"base_channels": 8}
    model = build_recognizer("stgcn", "coco17", 3, 3, **options)
    contract = contract_for(["a", "b", "c"], "coco17", in_channels=3, score_channel=True, backbone="stgcn",
                            backbone_options=options)
    save_checkpoint(tmp_path / "coco.pt", model=model.state_dict(), contract=contract, config={})
    backend = open_backend(tmp_path / "coco.pt", device="cpu")
    from cocodiff.data.frames import IMAGE

    recognizer = LiveRecognizer(backend, SkeletonSource("mediapipe33", IMAGE),
                                LiveConfig(seconds=1.0, warmup_seconds=0.0))
    landmarks = np.random.default_rng(0).uniform(0.3, 0.7, size=(1, 33, 2))
    with pytest.raises(FrameError, match=r"send scores \(P, 33\)"):
        recognizer.push(0.0, landmarks)
    update = recognizer.push(0.0, landmarks, np.full((1, 33), 0.9))
    assert update.predicted and update.persons[0].status in (RECOGNISED, UNKNOWN)
    from cocodiff.errors import CocodiffError

    with pytest.raises(CocodiffError, match="the stream sends 3D coordinates"):
        LiveRecognizer(backend, SkeletonSource("mediapipe33", MEDIAPIPE_WORLD))


def test_a_model_that_fails_leaves_the_stream_as_it_was(backends):
    backend = backends["onnxruntime"]
    config = LiveConfig(seconds=1.0, warmup_seconds=0.0, stride_frames=1)
    failing = RecordingBackend(backend, fail_on=(5,))
    flaky, clean = LiveRecognizer(failing, config=config), LiveRecognizer(backend, config=config)
    for i in range(4):
        assert flaky.push(i / 30, synthetic_person(i / 30)) == clean.push(i / 30, synthetic_person(i / 30))
    with pytest.raises(ModelRunError, match="the runtime failed"):
        flaky.push(4 / 30, synthetic_person(4 / 30))
    for i in range(4, 12):  # the same frame again, then on: as if the failure had never happened
        assert flaky.push(i / 30, synthetic_person(i / 30)) == clean.push(i / 30, synthetic_person(i / 30))

