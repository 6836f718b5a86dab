"""The action classes: each one turns a clip's timing into joint-angle curves.

An action gets the idle pose of the person (their posture plus a slow sway, one array per angle
in `body.angle_names()`) and returns it changed by the motion. Two kinds of timing:

- repeated strokes (squat, bow, ...): each repetition goes from the idle pose and back,
  `stroke(cycle)` is 0 at rest and 1 at the top, with a random hold and rise/fall balance;
- held rhythms (waving, clapping, ...): the arms move into a posture during a ramp (`env`),
  oscillate there at phase `2*pi*cycle + phase`, and return;
- one-way changes (sit down, stand up): a single repetition, after which the new posture stays.

`cycle` counts repetitions (0 before the action, `reps` after it) and is time-warped a little, so
no two repetitions take exactly the same time. Ranges are degrees unless named otherwise. The
motions live in `arm_motions` and `body_motions`, the timing in `timing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from cocodiff.data.embedded.arm_motions import (arm_circles, clap_hands, cross_arms, punch_forward,
                                                 raise_both_arms, swipe_left, swipe_right, throw, touch_head,
                                                 wave_right_hand)
from cocodiff.data.embedded.body import Body
from cocodiff.data.embedded.body_motions import (bend_sideways, bow, jumping_jacks, kick_right_leg,
                                                  march_in_place, sit_down, squat, stand_up)
from cocodiff.data.embedded.timing import Angles, Timing


@dataclass(frozen=True)
class Action:
    name: str
    period: tuple[float, float]  # seconds per repetition
    reps: tuple[int, int]
    ramp: float  # seconds into and out of the held posture (0 for stroke actions)
    move: Callable[[Angles, Timing, np.random.Generator, Body], tuple[Angles, np.ndarray | None]]
    jumps: bool = False


ACTIONS: tuple[Action, ...] = (
    Action("wave right hand", (0.28, 0.55), (2, 6), 0.4, wave_right_hand),
    Action("clap hands", (0.3, 0.6), (2, 8), 0.4, clap_hands),
    Action("raise both arms", (1.4, 2.4), (1, 3), 0.0, raise_both_arms),
    Action("squat", (1.6, 2.6), (1, 3), 0.35, squat),
    Action("jumping jacks", (0.8, 1.2), (2, 5), 0.25, jumping_jacks, jumps=True),
    Action("punch forward", (0.35, 0.75), (2, 6), 0.4, punch_forward),
    Action("kick right leg", (0.9, 1.5), (1, 3), 0.0, kick_right_leg),
    Action("bow", (1.6, 2.8), (1, 2), 0.0, bow),
    Action("arm circles", (0.6, 1.1), (3, 6), 0.5, arm_circles),
    Action("touch head with both hands", (1.4, 2.4), (1, 3), 0.0, touch_head),
    Action("march in place", (0.9, 1.3), (2, 4), 0.3, march_in_place, jumps=True),
    Action("bend sideways", (1.8, 3.0), (1, 2), 0.0, bend_sideways),
    # Added after measuring on real people: what they try in front of a camera (labels 12..17).
    Action("swipe left", (1.2, 2.0), (1, 2), 0.0, swipe_left),
    Action("swipe right", (1.2, 2.0), (1, 2), 0.0, swipe_right),
    Action("cross arms", (0.6, 2.0), (1, 1), 0.45, cross_arms),
    Action("throw", (1.1, 1.8), (1, 2), 0.0, throw),
    Action("sit down", (1.2, 2.2), (1, 1), 0.0, sit_down),
    Action("stand up", (1.2, 2.2), (1, 1), 0.0, stand_up),
)
CLASSES: tuple[str, ...] = tuple(action.name for action in ACTIONS)
