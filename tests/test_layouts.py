import numpy as np
import pytest

from cocodiff.data.graph import edge_matrix, spatial_adjacency
from cocodiff.data.layouts import LAYOUTS, PART_NAMES, get_layout
from cocodiff.errors import CocodiffError

EXPECTED_JOINTS = {"ntu25": 25, "kinect20": 20, "openpose18": 18, "coco17": 17, "mediapipe33": 33}
ALL = sorted(LAYOUTS)


def test_known_layouts_and_counts():
    assert {name: layout.num_joints for name, layout in LAYOUTS.items()} == EXPECTED_JOINTS
    for layout in LAYOUTS.values():
        assert len(layout.parents) == len(layout.joints) == len(set(layout.joints))


@pytest.mark.parametrize("name", ALL)
def test_skeleton_is_one_connected_tree(name):
    layout = LAYOUTS[name]
    assert layout.parents.count(-1) == 1
    assert len(layout.bones) == layout.num_joints - 1
    for joint in range(layout.num_joints):  # every joint reaches the root without a cycle
        seen, current = set(), joint
        while current != layout.root:
            assert current not in seen, f"cycle through joint {layout.joints[current]}"
            seen.add(current)
            current = layout.parents[current]
    adjacency = edge_matrix(layout.bones, layout.num_joints)
    adjacency = np.maximum(adjacency, adjacency.T)  # bones joined both ways
    reached, frontier = {layout.root}, [layout.root]
    while frontier:
        joint = frontier.pop()
        for neighbour in np.flatnonzero(adjacency[joint]):
            if neighbour not in reached:
                reached.add(int(neighbour))
                frontier.append(int(neighbour))
    assert reached == set(range(layout.num_joints))


@pytest.mark.parametrize("name", ALL)
def test_parts_partition_every_joint(name):
    layout = LAYOUTS[name]
    assert tuple(layout.parts) == PART_NAMES
    members = [joint for part in PART_NAMES for joint in layout.parts[part]]
    assert sorted(members) == list(range(layout.num_joints)), "each joint in exactly one part"
    assert all(layout.parts[part] for part in PART_NAMES), "no empty part"
    assert -1 not in layout.part_of_joint


@pytest.mark.parametrize("name", ALL)
def test_left_and_right_parts_hold_left_and_right_joints(name):
    layout = LAYOUTS[name]
    for side in ("left", "right"):
        for part in (f"{side}_arm", f"{side}_leg"):
            assert all(layout.joints[j].startswith(side + "_") for j in layout.parts[part])
    mirror = np.array(layout.mirror)
    assert sorted(mirror) == list(range(layout.num_joints))
    assert (mirror[mirror] == np.arange(layout.num_joints)).all(), "mirroring twice is the identity"
    for joint, twin in enumerate(mirror):
        assert layout.parents[joint] == -1 or layout.mirror[layout.parents[joint]] == layout.parents[twin]


@pytest.mark.parametrize("name", ALL)
def test_adjacency_normalisation(name):
    layout = LAYOUTS[name]
    adjacency = spatial_adjacency(layout)
    V = layout.num_joints
    assert adjacency.shape == (3, V, V) and adjacency.dtype == np.float32
    np.testing.assert_array_equal(adjacency[0], np.eye(V))
    inward, outward = adjacency[1], adjacency[2]
    # inward: every non-root joint sends everything to its parent; the root sends nothing
    np.testing.assert_allclose(inward.sum(axis=0), [0.0 if p < 0 else 1.0 for p in layout.parents])
    for child, parent in layout.bones:
        assert inward[parent, child] == 1.0
    # outward: a joint with k children sends 1/k to each child
    children = np.bincount([p for p in layout.parents if p >= 0], minlength=V)
    for child, parent in layout.bones:
        assert outward[child, parent] == pytest.approx(1.0 / children[parent])
    np.testing.assert_allclose(outward.sum(axis=0), (children > 0).astype(np.float32))
    assert ((inward > 0) == (outward > 0).T).all()


def test_ntu_graph_matches_ctrgcn_centre_and_pre_normalisation_joints():
    ntu = get_layout("ntu25")
    assert ntu.joints[ntu.root] == "spine_shoulder"  # joint 21 (1-based), CTR-GCN's centre
    assert ntu.origin == (ntu.index("spine_mid"),)
    assert ntu.shoulders == ((8,), (4,))


def test_unknown_layout_is_one_clear_error():
    with pytest.raises(CocodiffError, match="unknown layout 'ntu26'.*ntu25"):
        get_layout("ntu26")


def test_a_custom_layout_pickles_by_value():
    import dataclasses
    import pickle

    ntu = get_layout("ntu25")
    custom = dataclasses.replace(ntu, name="my_kinect")
    copy = pickle.loads(pickle.dumps(custom))
    assert copy == custom and copy.parts == custom.parts and copy.index("head") == 3
