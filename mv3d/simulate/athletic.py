"""Jumps and landings, lunges, side-step cutting, stair step-ups and trunk leans, on the spot.

Each repetition is a sequence of key postures (time in s, angle in deg) joined by monotone
cubics (no overshoot beyond the key postures). Peak angles follow published descriptions of
these tasks: countermovement jump to ~80-90 deg knee / 70-80 deg hip flexion with a flight of
0.35-0.55 s and a landing to 60-75 deg knee flexion (e.g. Bobbert et al. 1996; Decker et al.
2003); forward lunge to ~90-100 deg on both knees; side-step cut with the plant leg abducted
25-30 deg, knee 45-60 deg, the pelvis turned ~30 deg towards the new direction and the trunk
leaning into it (e.g. Besier et al. 2001; Dempsey et al. 2007); stair step-up onto a 17 cm
step, lead knee ~90 deg (e.g. Protopapadaki et al. 2007); trunk flexion to ~60 deg, lateral
bending ~25 deg, axial rotation ~35 deg (pelvis and lumbar shares).

With a random generator each call is one subject's version: tempo, depth, flight time, step
height, lean and turn amplitudes.
"""
from __future__ import annotations

import numpy as np

from mv3d.simulate.curves import SIDES, Coords, Motion, draw, sample_times, standing, transient_curve


def _set(c: Coords, t: np.ndarray, period: float, keys: list[float], table: dict[str, list[float]],
         gain: float = 1.0) -> None:
    """Coordinates of ``table`` (name -> degrees at ``keys``) as repeated curves; ``gain`` scales
    the excursion from the first key posture."""
    for name, values in table.items():
        v = np.asarray(values, float)
        c[name] = transient_curve(t, keys, v[0] + gain * (v - v[0]), period)


def _alternating(t: np.ndarray, period: float) -> np.ndarray:
    """(F,) True during the repetitions led by the left leg (every second one)."""
    return (np.floor(t / period).astype(int) % 2) == 1


def _swap_sides(c: Coords, left_leads: np.ndarray, mirror: tuple[str, ...] = ()) -> Coords:
    """Exchange right and left limb coordinates where the left leads; negate ``mirror`` coordinates
    there (pelvis list/rotation, lumbar bending/rotation change sign with the side)."""
    out = dict(c)
    for name in c:
        if name.endswith("_r"):
            other = name[:-2] + "_l"
            out[name] = np.where(left_leads, c[other], c[name])
            out[other] = np.where(left_leads, c[name], c[other])
    for name in mirror:
        out[name] = np.where(left_leads, -c[name], c[name])
    return out


def jump(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Countermovement jumps with arm swing and landing, one every 3 s (a subject: 2.6-3.6 s,
    depth 0.8-1.15x, flight 0.35-0.55 s)."""
    t = sample_times(seconds, rate)
    c = standing(t)
    period = draw(rng, 2.6, 3.6, 3.0)
    flight = draw(rng, 0.35, 0.55, 0.45)
    g = draw(rng, 0.8, 1.15, 1.0)
    k0, k1, k2, k3 = 0.4, 0.9, 1.15, 1.15 + flight    # start down, bottom, take-off, landing
    keys = [0.0, k0, k1, k2, k2 + flight / 2, k3, k3 + 0.25, k3 + 0.7, period]
    # flat feet at the bottom of the countermovement and of the landing: tilt + hip - knee + ankle = 0
    limbs = {"hip_flexion": [0, 0, 90, -2, 15, 12, 65, 0, 0], "knee_angle": [3, 3, 88, 6, 25, 12, 70, 3, 3],
             "ankle_angle": [0, 0, 28, -30, -20, -22, 28, 0, 0], "arm_flex": [0, 0, -50, 150, 120, 60, 20, 0, 0],
             "elbow_flex": [15, 15, 30, 10, 20, 30, 35, 15, 15]}
    trunk = {"pelvis_tilt": [0, 0, -30, -4, -6, -8, -25, 0, 0], "lumbar_extension": [0, 0, -12, 4, -4, -4, -10, 0, 0]}
    _set(c, t, period, keys, trunk, g)
    for side in SIDES:
        _set(c, t, period, keys, {f"{n}_{side}": v for n, v in limbs.items()}, g)
    p = np.mod(t, period)
    return Motion(t, c, airborne=(p > k2) & (p < k3), horizontal="roll")


def lunge(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Forward lunges, legs alternating, 3 s each (a subject: 2.4-3.6 s, depth 0.8-1.1x)."""
    t = sample_times(seconds, rate)
    c = standing(t)
    period = draw(rng, 2.4, 3.6, 3.0)
    g = draw(rng, 0.8, 1.1, 1.0)
    lean = draw(rng, -12.0, 4.0, -4.0)
    # step out (lead foot lands at 0.6 s), sink, hold, rise, step back (lead foot home at 2.6 s)
    keys = [0.0, 0.3, 0.6, 1.1, 1.4, 1.9, 2.3, 2.6, 3.0]
    flat = -6.0 - lean   # lead ankle that keeps the lead foot flat at the bottom (tilt + hip - knee + ankle = -3)
    table = {"hip_flexion_r": [0, 45, 40, 95, 95, 40, 45, 0, 0], "knee_angle_r": [3, 45, 10, 92, 92, 10, 45, 3, 3],
             "ankle_angle_r": [0, -5, 0, flat, flat, 0, -5, 0, 0],
             "hip_flexion_l": [0, -5, -12, -8, -8, -12, -5, 0, 0], "knee_angle_l": [3, 5, 10, 85, 85, 10, 5, 3, 3],
             "ankle_angle_l": [0, -5, -12, 5, 5, -12, -5, 0, 0],
             "pelvis_tilt": [0, -2, -4, lean, lean, -4, -2, 0, 0], "lumbar_extension": [0, 0, 0, 3, 3, 0, 0, 0, 0],
             "pelvis_rotation": [0, 4, 6, 2, 2, 6, 4, 0, 0], "arm_flex_r": [0, -10, -15, -20, -20, -15, -10, 0, 0],
             "arm_flex_l": [0, 10, 15, 20, 20, 15, 10, 0, 0]}
    _set(c, t, period, [k * period / 3.0 for k in keys], table, g)
    c = _swap_sides(c, _alternating(t, period), mirror=("pelvis_rotation", "pelvis_list"))
    return Motion(t, c, horizontal="roll")


def cutting(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Side-step cuts, alternating directions, 2 s each: approach step, plant (the right foot for a
    cut to the left), push off and turn (a subject: 1.6-2.4 s, 0.8-1.2x amplitude)."""
    t = sample_times(seconds, rate)
    c = standing(t)
    period = draw(rng, 1.6, 2.4, 2.0)
    g = draw(rng, 0.8, 1.2, 1.0)
    s = period / 2.0
    keys = [k * s for k in (0.0, 0.35, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0)]
    table = {"hip_flexion_r": [5, 40, 35, 45, 40, 25, 10, 5], "knee_angle_r": [5, 45, 25, 55, 45, 30, 10, 5],
             "hip_adduction_r": [-3, -10, -28, -25, -20, -12, -5, -3], "hip_rotation_r": [0, 0, 8, 12, 8, 4, 0, 0],
             "ankle_angle_r": [0, -10, 5, 20, 10, -15, -5, 0],
             "hip_flexion_l": [5, 10, 20, 45, 55, 40, 15, 5], "knee_angle_l": [5, 15, 30, 60, 70, 40, 15, 5],
             "hip_adduction_l": [-3, -5, -8, -12, -15, -10, -5, -3], "ankle_angle_l": [0, 0, -15, -5, 5, 5, 0, 0],
             "pelvis_tilt": [-5, -10, -12, -15, -12, -10, -6, -5], "pelvis_rotation": [0, 5, 15, 30, 25, 15, 5, 0],
             "pelvis_list": [0, 3, 6, 8, 6, 3, 1, 0], "lumbar_bending": [0, 3, 10, 15, 12, 6, 2, 0],
             "lumbar_rotation": [0, -3, -8, -12, -8, -4, -1, 0], "lumbar_extension": [0, -5, -8, -10, -8, -5, -2, 0],
             "arm_add_r": [-12, -20, -35, -40, -30, -20, -15, -12], "arm_add_l": [-12, -20, -30, -35, -30, -20, -15, -12]}
    _set(c, t, period, keys, table, g)
    c = _swap_sides(c, _alternating(t, period),
                    mirror=("pelvis_rotation", "pelvis_list", "lumbar_bending", "lumbar_rotation"))
    return Motion(t, c, horizontal="roll")


def stairs(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Step up onto a step and back down, lead leg alternating, 4 s per repetition (a subject:
    3.4-4.6 s, step 0.15-0.20 m)."""
    t = sample_times(seconds, rate)
    c = standing(t)
    period = draw(rng, 3.4, 4.6, 4.0)
    step = draw(rng, 0.15, 0.20, 0.17)
    s = period / 4.0
    keys = [k * s for k in (0.0, 0.6, 1.0, 1.4, 2.0, 2.4, 2.8, 3.2, 3.6, 4.0)]
    # lead (right) up by 0.6 s, trail on the step at 1.4 s; trail down by 2.8 s, lead down by 3.6 s
    # a foot on the ground or step stays flat: tilt + hip - knee + ankle = -3 deg (as standing)
    table = {"hip_flexion_r": [0, 65, 30, 5, 5, 30, 35, 55, 0, 0], "knee_angle_r": [3, 85, 45, 5, 5, 45, 55, 70, 3, 3],
             "ankle_angle_r": [0, 22, 22, 0, 0, 20, 25, 5, 0, 0],
             "hip_flexion_l": [0, -5, 45, 5, 5, 0, 5, 0, 0, 0], "knee_angle_l": [3, 5, 80, 5, 5, 10, 8, 5, 3, 3],
             "ankle_angle_l": [0, -18, 5, 0, 0, -15, 10, 0, 0, 0],
             "pelvis_tilt": [0, -5, -10, -2, -2, -8, -10, -8, 0, 0],
             "lumbar_extension": [0, -4, -4, 0, 0, -3, -3, -2, 0, 0],
             "arm_flex_r": [0, -12, 8, 0, 0, 8, 5, -5, 0, 0], "arm_flex_l": [0, 12, -8, 0, 0, -8, -5, 5, 0, 0]}
    _set(c, t, period, keys, table)
    p = np.mod(t, period)
    lead_up = (p >= 0.5 * s) & (p < 3.3 * s)
    trail_up = (p >= 1.2 * s) & (p < 2.6 * s)
    floor = np.stack([lead_up, trail_up], axis=1) * step
    left_leads = _alternating(t, period)
    c = _swap_sides(c, left_leads)
    floor = np.where(left_leads[:, None], floor[:, ::-1], floor)
    return Motion(t, c, floor=floor, horizontal="roll")


def trunk_lean(seconds: float, rate: float, rng: np.random.Generator | None = None) -> Motion:
    """Standing trunk movements, 12 s per sequence: forward flexion, side bends left and right,
    axial twists left and right (a subject: 10-14 s, 0.7-1.2x amplitude)."""
    t = sample_times(seconds, rate)
    c = standing(t)
    period = draw(rng, 10.0, 14.0, 12.0)
    g = draw(rng, 0.7, 1.2, 1.0)
    s = period / 12.0
    keys = [k * s for k in (0.0, 1.5, 2.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0)]
    table = {"pelvis_tilt": [0, -35, -35, 0, 0, 0, 0, 0, 0, 0, 0, 0],
             "lumbar_extension": [0, -25, -25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
             "hip_flexion_r": [0, 38, 38, 0, 0, 0, 0, 0, 0, 0, 0, 0],
             "hip_flexion_l": [0, 38, 38, 0, 0, 0, 0, 0, 0, 0, 0, 0],
             "ankle_angle_r": [0, -3, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
             "ankle_angle_l": [0, -3, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
             "lumbar_bending": [0, 0, 0, 0, 25, 0, -25, 0, 0, 0, 0, 0],
             "pelvis_list": [0, 0, 0, 0, 4, 0, -4, 0, 0, 0, 0, 0],
             "hip_adduction_r": [-3, -3, -3, -3, 1, -3, -7, -3, -3, -3, -3, -3],
             "hip_adduction_l": [-3, -3, -3, -3, -7, -3, 1, -3, -3, -3, -3, -3],
             "lumbar_rotation": [0, 0, 0, 0, 0, 0, 0, 0, 30, 0, -30, 0],
             "pelvis_rotation": [0, 0, 0, 0, 0, 0, 0, 0, 10, 0, -10, 0],
             "hip_rotation_r": [0, 0, 0, 0, 0, 0, 0, 0, 10, 0, -10, 0],
             "hip_rotation_l": [0, 0, 0, 0, 0, 0, 0, 0, -10, 0, 10, 0],
             "arm_add_r": [-12, -5, -5, -12, -20, -12, -20, -12, -12, -12, -12, -12],
             "arm_add_l": [-12, -5, -5, -12, -20, -12, -20, -12, -12, -12, -12, -12]}
    _set(c, t, period, keys, table, g)
    return Motion(t, c)
