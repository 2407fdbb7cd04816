"""Built-in parametric motions: joint-angle curves of everyday tests, written in code.

Each motion is ``make(seconds, rate) -> (times (F,), coords)`` with ``coords`` a dict
``coordinate name -> (F,)`` in radians (rotations) and metres (pelvis translations),
named as in the Rajagopal / LaiUhlrich models. Signs follow those models: hip, knee
and arm flexion positive; ankle dorsiflexion positive; anterior pelvis tilt and trunk
flexion negative (``pelvis_tilt``, ``lumbar_extension``); ``hip_adduction`` and
``arm_add`` negative for abduction. Amplitudes are within the ranges of real OpenCap
squat and gait recordings (e.g. squat: hip ~100 deg, knee ~90-110 deg, ankle ~25-30 deg,
pelvis tilt to -40 deg).

``pelvis_ty`` is a nominal standing height; :mod:`mv3d.simulate.source` puts the
lowest foot point on the floor in every frame and keeps the feet in place.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mv3d.errors import InputError

Coords = dict[str, np.ndarray]
MotionFn = Callable[[float, float], tuple[np.ndarray, Coords]]

_SIDES = ("r", "l")
#: Every coordinate a built-in motion sets.
COORDINATES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
) + tuple(f"{c}_{s}" for s in _SIDES for c in (
    "hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle", "subtalar_angle",
    "mtp_angle", "arm_flex", "arm_add", "arm_rot", "elbow_flex", "pro_sup", "wrist_flex", "wrist_dev"))

_NOMINAL_PELVIS_HEIGHT = 0.93  # m; replaced by the per-frame floor contact in source.py


def _times(seconds: float, rate: float) -> np.ndarray:
    if not (seconds > 0 and rate > 0):
        raise InputError(f"a motion needs a positive duration and rate, got {seconds} s at {rate} Hz")
    return np.arange(int(round(seconds * rate)) + 1) / rate


def _smooth(x: np.ndarray) -> np.ndarray:
    """Smoothstep on [0, 1] (zero velocity at both ends), clipped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def _cycle(t: np.ndarray, period: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """A 0 -> 1 -> 0 profile per period: rise, hold at 1, fall, rest at 0 (fractions of the period)."""
    p = np.mod(t / period, 1.0)
    up = _smooth(p / rise)
    down = _smooth((p - rise - hold) / fall)
    return up * (1.0 - down)


def _standing(t: np.ndarray) -> Coords:
    """Relaxed upright posture: arms slightly abducted, elbows a little flexed, palms in."""
    z = np.zeros_like(t)
    c = {name: z.copy() for name in COORDINATES}
    c["pelvis_ty"] = z + _NOMINAL_PELVIS_HEIGHT
    for s in _SIDES:
        c[f"hip_adduction_{s}"] = z + np.radians(-3.0)
        c[f"knee_angle_{s}"] = z + np.radians(3.0)
        c[f"arm_add_{s}"] = z + np.radians(-12.0)
        c[f"elbow_flex_{s}"] = z + np.radians(15.0)
        c[f"pro_sup_{s}"] = z + np.radians(80.0)
    return c


def squat(seconds: float, rate: float) -> tuple[np.ndarray, Coords]:
    """Bodyweight squats, 3 s per repetition, arms raised forward for balance.

    The sagittal angles keep the foot flat (pelvis tilt + hip - knee + ankle = 0 deg at the bottom).
    """
    t = _times(seconds, rate)
    c = _standing(t)
    s = _cycle(t, 3.0, 0.4, 0.1, 0.4)
    c["pelvis_tilt"] = np.radians(-35.0) * s
    c["lumbar_extension"] = np.radians(-15.0) * s
    for side in _SIDES:
        c[f"hip_flexion_{side}"] = np.radians(100.0) * s
        c[f"hip_rotation_{side}"] = np.radians(5.0) * s
        c[f"knee_angle_{side}"] = np.radians(3.0 + 90.0 * s)
        c[f"ankle_angle_{side}"] = np.radians(28.0) * s
        c[f"arm_flex_{side}"] = np.radians(85.0) * s
        c[f"elbow_flex_{side}"] = np.radians(15.0 - 5.0 * s)
    return t, c


def sit_to_stand(seconds: float, rate: float) -> tuple[np.ndarray, Coords]:
    """Rising from a chair and sitting down again, 4 s per cycle (starts seated)."""
    t = _times(seconds, rate)
    c = _standing(t)
    stand = _cycle(t, 4.0, 0.3, 0.25, 0.3)
    sit = 1.0 - stand
    lean = np.sin(np.pi * stand) ** 2  # trunk leans forward while the hips move over the feet
    c["pelvis_tilt"] = np.radians(-10.0 * sit - 30.0 * lean)
    c["lumbar_extension"] = np.radians(-5.0 * sit - 15.0 * lean)
    for side in _SIDES:
        c[f"hip_flexion_{side}"] = np.radians(90.0 * sit + 20.0 * lean)
        c[f"hip_adduction_{side}"] = np.radians(-4.0 - 4.0 * sit)
        c[f"knee_angle_{side}"] = np.radians(3.0 + 92.0 * sit)
        c[f"ankle_angle_{side}"] = np.radians(12.0 * sit + 8.0 * lean)
        c[f"arm_flex_{side}"] = np.radians(20.0 * sit + 25.0 * lean)
        c[f"elbow_flex_{side}"] = np.radians(15.0 + 45.0 * sit)
    return t, c


def walk_in_place(seconds: float, rate: float) -> tuple[np.ndarray, Coords]:
    """Marching on the spot, 1.1 s per stride, arms swinging opposite to the legs."""
    t = _times(seconds, rate)
    c = _standing(t)
    phase = 2 * np.pi * t / 1.1
    lift = {"r": np.clip(np.sin(phase), 0, None), "l": np.clip(-np.sin(phase), 0, None)}
    swing = {"r": -np.sin(phase), "l": np.sin(phase)}
    c["pelvis_list"] = np.radians(4.0) * np.sin(phase)
    c["pelvis_rotation"] = np.radians(3.0) * np.sin(phase)
    c["lumbar_rotation"] = np.radians(-4.0) * np.sin(phase)
    for side in _SIDES:
        c[f"hip_flexion_{side}"] = np.radians(45.0) * lift[side]
        c[f"knee_angle_{side}"] = np.radians(3.0 + 70.0 * lift[side])
        c[f"ankle_angle_{side}"] = np.radians(-15.0 * lift[side])
        c[f"arm_flex_{side}"] = np.radians(25.0) * swing[side]
        c[f"elbow_flex_{side}"] = np.radians(25.0 + 20.0 * np.clip(swing[side], 0, None))
    return t, c


def arm_raises(seconds: float, rate: float) -> tuple[np.ndarray, Coords]:
    """Alternating front raises (shoulder flexion to 150 deg) and side raises (abduction to 120 deg), 6 s per pair."""
    t = _times(seconds, rate)
    c = _standing(t)
    p = np.mod(t, 6.0)
    front = _cycle(p, 3.0, 0.4, 0.1, 0.4) * (p < 3.0)
    side_raise = _cycle(p - 3.0, 3.0, 0.4, 0.1, 0.4) * (p >= 3.0)
    c["lumbar_extension"] = np.radians(5.0) * front
    for side in _SIDES:
        c[f"arm_flex_{side}"] = np.radians(150.0) * front
        c[f"arm_add_{side}"] = np.radians(-12.0 - 108.0 * side_raise)
        c[f"arm_rot_{side}"] = np.radians(20.0) * side_raise
        c[f"elbow_flex_{side}"] = np.radians(15.0 - 10.0 * (front + side_raise))
        c[f"wrist_flex_{side}"] = np.radians(-10.0) * front
    return t, c


def motion_library() -> dict[str, MotionFn]:
    """Name -> ``make(seconds, rate) -> (times (F,), coords)`` of every built-in motion."""
    return {
        "squat": squat,
        "sit_to_stand": sit_to_stand,
        "walk_in_place": walk_in_place,
        "arm_raises": arm_raises,
    }


_ALIASES = {"walk": "walk_in_place", "sts": "sit_to_stand"}


def make_motion(name: str, seconds: float, rate: float) -> tuple[np.ndarray, Coords]:
    """Sample the built-in motion ``name``; InputError listing the known motions otherwise."""
    library = motion_library()
    name = _ALIASES.get(name, name)
    if name not in library:
        raise InputError(f"unknown motion {name!r}; built-in motions: {', '.join(sorted(library))} "
                         "(or give the path of an OpenSim .mot or a .trc file)")
    return library[name](seconds, rate)
