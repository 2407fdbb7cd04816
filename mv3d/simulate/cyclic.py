"""Treadmill running and walking: joint-angle curves over the gait cycle, scaled with speed.

Each lower-limb curve is a periodic spline through knots (% of the gait cycle from the right
foot's initial contact, degrees) drawn at two speeds and interpolated linearly in speed;
stance and swing are stretched separately so toe-off falls where it does at that speed. The
left side is the right one half a cycle later. The knot values follow the published sagittal
and frontal patterns of treadmill and overground running and walking (e.g. Novacheck 1998,
Gait Posture 7:77; Fukuchi et al. 2017, PeerJ 5:e3298; Schache et al. 1999 for the pelvis and
trunk; Perry & Burnfield 2010 for walking):

* running 2.5 -> 5.0 m/s: stride frequency 1.30 -> 1.52 Hz, stance 41 -> 31 % of the cycle;
  knee 15-22 deg at contact, 40-45 deg in mid-stance, 90 -> 125 deg peak swing flexion; hip
  32-45 deg at contact, -5 -> -14 deg at toe-off, 38 -> 60 deg late-swing peak; ankle 20 deg
  peak dorsiflexion in stance, -16 -> -26 deg plantarflexion after toe-off; pelvis 6-10 deg
  more anterior tilt than standing with a 2-3 deg oscillation at twice the stride frequency,
  trunk forward lean;
* walking 0.9 -> 1.7 m/s: stride frequency 0.80 -> 1.00 Hz, stance 63 -> 60 %; knee 15-25 deg
  loading response, 58-66 deg swing peak; hip 24-32 deg at contact, -9 -> -15 deg extension.

With a random generator each call is one subject's style: speed around the nominal, offsets
and gains of the curves, strike pattern (rear- to fore-foot), trunk lean, arm carriage,
stride-to-stride variability of tempo and amplitude. The pelvis stays in place horizontally
(a treadmill: the stance foot slides back with the belt); running has flight phases.

The pelvis and trunk carry the frames that OpenSim IK of real walking gives them
(``IK_PELVIS_DEG``, ``IK_TRUNK_DEG``), not the clinical textbook's: a pelvis rotated posteriorly
with the hips and the lumbar joint compensating. The thighs and the legs are where the textbook
puts them, so video keypoints look the same; only the pelvis markers and the coordinates move.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mv3d.simulate.curves import (SIDES, Coords, Motion, draw, knots_at, periodic_curve, rotate_pelvis_frame,
                                  sample_times, slow_wobble, standing, warp_stance)

#: Real IK of walking against the textbook curves (deg): OpenCap's walking1 (LaiUhlrich2022, video
#: IK) has its pelvis tilted +12.8 deg more posteriorly with the same thighs and its trunk 10 deg
#: more forward in space, OpenSim's Gait2354 walk (mocap IK) +8.7 / -12.2. Running is given the same
#: frames (a property of the models and marker sets, not of the speed).
IK_PELVIS_DEG = 10.0
IK_TRUNK_DEG = -11.0

#: Running knots: coordinate -> (% of the cycle, deg at 2.5 m/s, deg at 5.0 m/s); toe-off at 37 %.
RUN_KNOTS: dict[str, tuple[list[float], list[float], list[float]]] = {
    "hip_flexion": ([0, 10, 20, 30, 37, 45, 55, 65, 75, 85, 95],
                    [32, 27, 16, 4, -4, -6, 4, 18, 32, 38, 36],
                    [45, 36, 20, 2, -10, -14, 2, 30, 52, 60, 52]),
    "knee_angle": ([0, 8, 15, 25, 37, 45, 55, 65, 72, 80, 90, 95],
                   [14, 30, 40, 30, 16, 35, 65, 88, 90, 75, 35, 20],
                   [22, 34, 44, 32, 20, 50, 90, 120, 125, 105, 50, 28]),
    "ankle_angle": ([0, 8, 18, 28, 37, 45, 55, 65, 80, 92],
                    [4, 14, 20, 12, -8, -16, -4, 6, 8, 5],
                    [0, 12, 22, 10, -16, -26, -8, 4, 6, 2]),
    "hip_adduction": ([0, 12, 25, 37, 50, 65, 80, 92],
                      [3, 8, 6, 0, -5, -6, -3, 1],
                      [3, 10, 7, -1, -7, -8, -4, 1]),
    "hip_rotation": ([0, 15, 30, 45, 60, 80, 92],
                     [3, 6, 2, -4, -6, -1, 2],
                     [3, 7, 2, -5, -7, -1, 2]),
    "subtalar_angle": ([0, 10, 25, 37, 60, 85],
                       [0, -6, -4, 2, 2, 1],
                       [0, -8, -5, 3, 2, 1]),
}
RUN_TOE_OFF_REF = 0.37

#: Walking knots, as RUN_KNOTS at 0.9 and 1.7 m/s; toe-off at 62 %.
WALK_KNOTS: dict[str, tuple[list[float], list[float], list[float]]] = {
    "hip_flexion": ([0, 10, 25, 40, 52, 62, 75, 87],
                    [24, 20, 8, -4, -9, -2, 18, 26],
                    [32, 27, 10, -6, -15, -5, 24, 35]),
    "knee_angle": ([0, 5, 15, 30, 45, 55, 62, 72, 85, 95],
                   [4, 8, 14, 6, 4, 20, 40, 58, 30, 6],
                   [6, 14, 24, 10, 8, 30, 52, 66, 35, 8]),
    "ankle_angle": ([0, 6, 15, 30, 45, 55, 62, 72, 85, 95],
                    [0, -4, 2, 8, 11, 2, -10, -4, 2, 1],
                    [-2, -7, 2, 9, 13, 0, -18, -7, 2, 0]),
    "hip_adduction": ([0, 15, 30, 45, 60, 75, 90],
                      [2, 6, 4, 3, -2, -5, -1],
                      [2, 8, 5, 3, -4, -7, -1]),
    "hip_rotation": ([0, 20, 40, 60, 80],
                     [2, 4, 0, -4, 0],
                     [2, 5, 0, -5, 0]),
    "subtalar_angle": ([0, 10, 30, 55, 70, 90],
                       [0, -4, -3, 2, 1, 0],
                       [0, -5, -3, 3, 1, 0]),
}
WALK_TOE_OFF_REF = 0.62


def _phase(t: np.ndarray, frequency: float, rng: np.random.Generator | None) -> np.ndarray:
    """Gait-cycle phase (cycles) with a slowly varying tempo (+-2 % between strides)."""
    rate = frequency * (1.0 + slow_wobble(t, rng, 0.02))
    dt = np.diff(t, prepend=t[0])
    return np.cumsum(rate * dt) + (0.0 if rng is None else rng.uniform(0, 1))


@dataclass(frozen=True)
class GaitPattern:
    """A gait at two reference speeds (m/s): curve knots, stride frequency (Hz) and toe-off (fraction of
    the cycle) at each, linear in speed between them; how much a subject's speed and toe-off vary."""
    knots: dict[str, tuple[list[float], list[float], list[float]]]
    speeds: tuple[float, float]
    speed_limits: tuple[float, float]
    speed_jitter: float
    frequency: tuple[float, float]
    toe_off: tuple[float, float]
    toe_off_jitter: float
    toe_off_limits: tuple[float, float]
    toe_off_ref: float


RUNNING = GaitPattern(RUN_KNOTS, (2.5, 5.0), (2.0, 6.0), 0.4, (1.30, 1.52), (0.41, 0.31), 0.03, (0.26, 0.45),
                      RUN_TOE_OFF_REF)
WALKING = GaitPattern(WALK_KNOTS, (0.9, 1.7), (0.6, 2.0), 0.15, (0.80, 1.00), (0.63, 0.60), 0.015, (0.0, 1.0),
                      WALK_TOE_OFF_REF)


def _gait(pattern: GaitPattern, seconds: float, rate: float, speed: float, rng: np.random.Generator | None
          ) -> tuple[np.ndarray, float, np.ndarray, float, Coords]:
    """Times (F,), speed fraction k (0 at the first reference speed, 1 at the second), gait phase (F,),
    toe-off and the standing coordinates with both legs' curves (a subject's own with ``rng``)."""
    t = sample_times(seconds, rate)
    if rng is not None:
        speed = float(np.clip(speed + rng.uniform(-pattern.speed_jitter, pattern.speed_jitter), *pattern.speed_limits))
    k = (speed - pattern.speeds[0]) / (pattern.speeds[1] - pattern.speeds[0])
    (f0, f1), (o0, o1) = pattern.frequency, pattern.toe_off
    freq = (f0 + (f1 - f0) * k) * draw(rng, 0.93, 1.07, 1.0)
    jitter = pattern.toe_off_jitter
    toe_off = float(np.clip(o0 + (o1 - o0) * k + draw(rng, -jitter, jitter, 0.0), *pattern.toe_off_limits))
    phase = _phase(t, freq, rng)
    c = standing(t)
    _legs(c, phase, pattern, speed, toe_off, rng, t)
    return t, k, phase, toe_off, c


def _legs(c: Coords, phase: np.ndarray, pattern: GaitPattern, speed: float, toe_off: float,
          rng: np.random.Generator | None, t: np.ndarray) -> None:
    """Hip, knee, ankle and subtalar curves of both legs into ``c`` (left half a cycle later)."""
    (s0, s1) = pattern.speeds
    knots = {coord: (pct, knots_at(speed, (s0, low), (s1, high))) for coord, (pct, low, high) in pattern.knots.items()}
    for side, shift in zip(SIDES, (0.0, 0.5)):
        p = warp_stance(phase + shift, toe_off, pattern.toe_off_ref)
        for coord, (pct, values) in knots.items():
            curve = periodic_curve(p, pct, values)
            if rng is not None:  # amplitude about the cycle mean varies by subject and, slowly, by stride
                gain = rng.uniform(0.88, 1.12) + slow_wobble(t, rng, 0.03)
                mean = curve.mean()
                curve = mean + gain * (curve - mean)
            c[f"{coord}_{side}"] = curve


def running(seconds: float, rate: float, speed: float = 3.5, rng: np.random.Generator | None = None) -> Motion:
    """Treadmill running at ``speed`` m/s (2.0-6.0); see the module docstring."""
    t, k, phase, toe_off, c = _gait(RUNNING, seconds, rate, speed, rng)
    strike = draw(rng, -12.0, 4.0, 0.0)                   # fore-foot strikers land plantarflexed
    for side, shift in zip(SIDES, (0.0, 0.5)):
        near_contact = np.exp(-0.5 * (np.mod(phase + shift + 0.06, 1.0) - 0.06) ** 2 / 0.05 ** 2)
        c[f"ankle_angle_{side}"] += np.radians(strike) * near_contact
    w = 2 * np.pi * phase
    tilt = -(6.0 + 4.0 * k) + draw(rng, -3.0, 3.0, 0.0)
    lean = -(4.0 + 5.0 * k) + draw(rng, -5.0, 5.0, 0.0)  # trunk pitch in space, forward negative
    osc = 2.0 + 1.0 * k
    c["pelvis_tilt"] = np.radians(tilt - osc * np.cos(2 * (w - 2 * np.pi * 0.2)))
    c["pelvis_list"] = np.radians(-(5.0 + draw(rng, -2.0, 2.0, 0.0)) * np.sin(w + 0.3))
    c["pelvis_rotation"] = np.radians((6.0 + 3.0 * k + draw(rng, -2.0, 3.0, 0.0)) * np.cos(w))
    c["lumbar_extension"] = np.radians(lean - tilt + 0.5 * osc * np.cos(2 * (w - 2 * np.pi * 0.2)))
    c["lumbar_bending"] = np.radians(4.0 * np.sin(w + 0.3))
    rotate_pelvis_frame(c, np.radians(IK_PELVIS_DEG), np.radians(IK_TRUNK_DEG))
    c["lumbar_rotation"] = np.radians(-(10.0 + 4.0 * k) * np.cos(w))
    c["pelvis_ty"] = c["pelvis_ty"] - 0.04
    swing = 30.0 + 15.0 * k + draw(rng, -8.0, 8.0, 0.0)
    elbow = 85.0 + draw(rng, -20.0, 15.0, 0.0)
    for side, shift in zip(SIDES, (0.0, 0.5)):
        arm = np.cos(w + 2 * np.pi * shift)              # right arm back at right contact
        c[f"arm_flex_{side}"] = np.radians(-8.0 - swing * arm)
        c[f"arm_add_{side}"] = np.radians(-12.0 + 4.0 * arm + draw(rng, -5.0, 5.0, 0.0))
        c[f"elbow_flex_{side}"] = np.radians(elbow - 12.0 * arm)
        c[f"arm_rot_{side}"] = np.full_like(t, np.radians(10.0 + draw(rng, -10.0, 10.0, 0.0)))
    airborne = (np.mod(phase, 0.5) >= toe_off) if toe_off < 0.5 else None
    return Motion(t, c, airborne=airborne, horizontal="free")


def walking(seconds: float, rate: float, speed: float = 1.3, rng: np.random.Generator | None = None) -> Motion:
    """Treadmill walking at ``speed`` m/s (0.6-2.0); see the module docstring."""
    t, k, phase, _, c = _gait(WALKING, seconds, rate, speed, rng)
    w = 2 * np.pi * phase
    tilt = -4.0 + draw(rng, -4.0, 4.0, 0.0)
    c["pelvis_tilt"] = np.radians(tilt - 1.5 * np.cos(2 * (w - 2 * np.pi * 0.1)))
    c["pelvis_list"] = np.radians(-4.0 * np.sin(w + 0.4))
    c["pelvis_rotation"] = np.radians((4.0 + 3.0 * k) * np.cos(w))
    c["lumbar_extension"] = np.full_like(t, np.radians(-tilt - 2.0 + draw(rng, -3.0, 3.0, 0.0)))
    c["lumbar_bending"] = np.radians(3.0 * np.sin(w + 0.4))
    rotate_pelvis_frame(c, np.radians(IK_PELVIS_DEG), np.radians(IK_TRUNK_DEG))
    c["lumbar_rotation"] = np.radians(-(6.0 + 3.0 * k) * np.cos(w))
    swing = 15.0 + 10.0 * k + draw(rng, -6.0, 6.0, 0.0)
    for side, shift in zip(SIDES, (0.0, 0.5)):
        arm = np.cos(w + 2 * np.pi * shift)
        c[f"arm_flex_{side}"] = np.radians(-4.0 - swing * arm)
        c[f"elbow_flex_{side}"] = np.radians(22.0 - 8.0 * arm + draw(rng, -8.0, 8.0, 0.0))
    return Motion(t, c, horizontal="free")
