"""Built-in parametric motions: joint-angle curves of everyday tests and sports, written in code.

Each motion is ``make(seconds, rate, rng=None) -> Motion`` (:class:`mv3d.simulate.curves.Motion`:
times (F,), ``coords`` a dict ``coordinate name -> (F,)`` in radians (rotations) and metres
(pelvis translations), named as in the Rajagopal / LaiUhlrich models, and how the feet meet the
ground). Signs follow those models: hip, knee and arm flexion positive; ankle dorsiflexion
positive; anterior pelvis tilt and trunk flexion negative (``pelvis_tilt``,
``lumbar_extension``); ``hip_adduction`` and ``arm_add`` negative for abduction; ``hip_rotation``
positive inwards. Amplitudes are within the ranges of real recordings (e.g. squat: hip ~100 deg,
knee ~90-110 deg, ankle ~25-30 deg, pelvis tilt to -40 deg).

Without a generator (``rng=None``) a motion is the same every time (the demo and the tests);
with one, each call is another subject's version of it (tempo, depth, style, posture offsets),
as the augmenter's training set and the held-out benchmark draw them.

``pelvis_ty`` is a nominal standing height; :mod:`mv3d.simulate.source` puts the lowest foot
point on the floor in every frame (except in flight phases) and keeps the feet in place.
Everyday motions are here; treadmill running and walking in :mod:`mv3d.simulate.cyclic`;
jumps, lunges, cutting, stairs and trunk leans in :mod:`mv3d.simulate.athletic`.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from mv3d.errors import InputError
from mv3d.kinematics.bodymodel import RANGES, side_free
from mv3d.simulate.athletic import cutting, jump, lunge, stairs, trunk_lean
from mv3d.simulate.cyclic import running, walking
from mv3d.simulate.curves import (COORDINATES, SIDES, Motion, cycle, draw, sample_times, standing,
                                  vary_posture)

MotionFn = Callable[..., Motion]

__all__ = ["COORDINATES", "Motion", "MotionFn", "make_motion", "motion_library", "MOTION_FAMILIES"]


def squat(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Bodyweight squats, 3 s per repetition, arms raised forward for balance.

    The sagittal angles keep the foot flat (pelvis tilt + hip - knee + ankle = 0 deg at the bottom).
    A subject (``rng``) squats 0.6-1.1 times as deep, 2.4-3.6 s per repetition, with its own trunk lean.
    """
    t = sample_times(seconds, rate)
    c = standing(t)
    depth = draw(rng, 0.6, 1.1, 1.0)
    s = cycle(t, draw(rng, 2.4, 3.6, 3.0), 0.4, 0.1, 0.4) * depth
    lean = draw(rng, -10.0, 10.0, 0.0)   # more or less trunk flexion, compensated at the ankle
    c["pelvis_tilt"] = np.radians(-35.0 - lean) * s
    c["lumbar_extension"] = np.radians(-15.0) * s
    for side in SIDES:
        c[f"hip_flexion_{side}"] = np.radians(100.0 + lean) * s
        c[f"hip_rotation_{side}"] = np.radians(5.0) * s
        c[f"knee_angle_{side}"] = np.radians(3.0 + 90.0 * s)
        c[f"ankle_angle_{side}"] = np.radians(28.0) * s
        c[f"arm_flex_{side}"] = np.radians(draw(rng, 40.0, 100.0, 85.0)) * s
        c[f"elbow_flex_{side}"] = np.radians(15.0 - 5.0 * s)
    return Motion(t, c)


def sit_to_stand(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Rising from a chair and sitting down again, 4 s per cycle (starts seated); a subject
    (``rng``) takes 3-5 s per cycle."""
    t = sample_times(seconds, rate)
    c = standing(t)
    stand = cycle(t, draw(rng, 3.0, 5.0, 4.0), 0.3, 0.25, 0.3)
    sit = 1.0 - stand
    lean = np.sin(np.pi * stand) ** 2  # trunk leans forward while the hips move over the feet
    c["pelvis_tilt"] = np.radians(-10.0 * sit - 30.0 * lean)
    c["lumbar_extension"] = np.radians(-5.0 * sit - 15.0 * lean)
    for side in SIDES:
        c[f"hip_flexion_{side}"] = np.radians(90.0 * sit + 20.0 * lean)
        c[f"hip_adduction_{side}"] = np.radians(-4.0 - 4.0 * sit)
        c[f"knee_angle_{side}"] = np.radians(3.0 + 92.0 * sit)
        c[f"ankle_angle_{side}"] = np.radians(12.0 * sit + 8.0 * lean)
        c[f"arm_flex_{side}"] = np.radians(20.0 * sit + 25.0 * lean)
        c[f"elbow_flex_{side}"] = np.radians(15.0 + 45.0 * sit)
    return Motion(t, c)


def walk_in_place(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Marching on the spot, 1.1 s per stride, arms swinging opposite to the legs; a subject
    (``rng``) marches 0.8-1.4 s per stride, lifting the knees 0.7-1.3 times as high."""
    t = sample_times(seconds, rate)
    c = standing(t)
    phase = 2 * np.pi * t / draw(rng, 0.8, 1.4, 1.1)
    high = draw(rng, 0.7, 1.3, 1.0)
    lift = {"r": high * np.clip(np.sin(phase), 0, None), "l": high * np.clip(-np.sin(phase), 0, None)}
    swing = {"r": -np.sin(phase), "l": np.sin(phase)}
    c["pelvis_list"] = np.radians(4.0) * np.sin(phase)
    c["pelvis_rotation"] = np.radians(3.0) * np.sin(phase)
    c["lumbar_rotation"] = np.radians(-4.0) * np.sin(phase)
    for side in SIDES:
        c[f"hip_flexion_{side}"] = np.radians(45.0) * lift[side]
        c[f"knee_angle_{side}"] = np.radians(3.0 + 70.0 * lift[side])
        c[f"ankle_angle_{side}"] = np.radians(-15.0 * lift[side])
        c[f"arm_flex_{side}"] = np.radians(25.0) * swing[side]
        c[f"elbow_flex_{side}"] = np.radians(25.0 + 20.0 * np.clip(swing[side], 0, None))
    return Motion(t, c)


def arm_raises(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Alternating front raises (shoulder flexion to 150 deg) and side raises (abduction to 120 deg),
    6 s per pair; a subject (``rng``) takes 5-7 s per pair."""
    t = sample_times(seconds, rate)
    c = standing(t)
    pair = draw(rng, 5.0, 7.0, 6.0)
    p = np.mod(t, pair)
    front = cycle(p, pair / 2, 0.4, 0.1, 0.4) * (p < pair / 2)
    side_raise = cycle(p - pair / 2, pair / 2, 0.4, 0.1, 0.4) * (p >= pair / 2)
    c["lumbar_extension"] = np.radians(5.0) * front
    for side in SIDES:
        c[f"arm_flex_{side}"] = np.radians(150.0) * front
        c[f"arm_add_{side}"] = np.radians(-12.0 - 108.0 * side_raise)
        c[f"arm_rot_{side}"] = np.radians(20.0) * side_raise
        c[f"elbow_flex_{side}"] = np.radians(15.0 - 10.0 * (front + side_raise))
        c[f"wrist_flex_{side}"] = np.radians(-10.0) * front
    return Motion(t, c)


def motion_library() -> dict[str, MotionFn]:
    """Name -> ``make(seconds, rate, rng=None) -> Motion`` of every built-in motion."""
    return {
        "squat": squat,
        "sit_to_stand": sit_to_stand,
        "walk_in_place": walk_in_place,
        "arm_raises": arm_raises,
        "gait_slow": partial(walking, speed=0.9),
        "gait": partial(walking, speed=1.3),
        "gait_fast": partial(walking, speed=1.7),
        "run_slow": partial(running, speed=2.5),
        "run": partial(running, speed=3.5),
        "run_fast": partial(running, speed=5.0),
        "jump": jump,
        "lunge": lunge,
        "cutting": cutting,
        "stairs": stairs,
        "trunk_lean": trunk_lean,
    }


#: Motion types (what a benchmark holds out together): running at any speed is one type.
MOTION_FAMILIES = {"gait_slow": "gait", "gait_fast": "gait", "run_slow": "run", "run_fast": "run"}

_ALIASES = {"walk": "walk_in_place", "sts": "sit_to_stand", "running": "run", "walking": "gait"}


def model_limits() -> dict[str, tuple[float, float]]:
    """Coordinate -> (min, max) radians of the built-in model (both sides)."""
    out = {}
    for name in COORDINATES:
        key = side_free(name)
        if key in RANGES and not name.startswith("pelvis_t"):
            out[name] = RANGES[key]
    return out


def make_motion(name: str, seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Sample the built-in motion ``name`` (a subject's own version of it when ``rng`` is given),
    within the built-in model's coordinate ranges; InputError listing the known motions otherwise."""
    library = motion_library()
    name = _ALIASES.get(name, name)
    if name not in library:
        raise InputError(f"unknown motion {name!r}; built-in motions: {', '.join(sorted(library))} "
                         "(or give the path of an OpenSim .mot or a .trc file)")
    motion = library[name](seconds, rate, rng=rng)
    motion.coords = vary_posture(motion.coords, rng, model_limits())
    return motion
