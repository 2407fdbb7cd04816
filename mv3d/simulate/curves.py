"""Building blocks of the built-in motions: the :class:`Motion` record, the coordinates it sets,
time bases, smooth profiles, periodic curves through knots, and subject variability.

Angles are radians inside a :class:`Motion`; the knot tables of the motion modules are in
degrees (as gait-analysis figures print them) and converted here. Signs are those of the
Rajagopal / LaiUhlrich models (see :mod:`mv3d.simulate.motions`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from mv3d.errors import InputError
from mv3d.kinematics.bodymodel import side_free

Coords = dict[str, np.ndarray]

SIDES = ("r", "l")
#: Every coordinate a built-in motion sets.
COORDINATES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
) + tuple(f"{c}_{s}" for s in SIDES for c in (
    "hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle", "subtalar_angle",
    "mtp_angle", "arm_flex", "arm_add", "arm_rot", "elbow_flex", "pro_sup", "wrist_flex", "wrist_dev"))

NOMINAL_PELVIS_HEIGHT = 0.93  # m; replaced by the per-frame floor contact in source.py


@dataclass
class Motion:
    """A sampled built-in motion.

    times (F,) s; coords: coordinate -> (F,) radians / metres (pelvis translations);
    airborne (F,) bool or None: frames where no foot touches the ground (a flight phase:
    the simulator moves the pelvis ballistically there instead of putting the lowest foot on
    the floor); floor (F, 2) or None: height (m) of the surface under the right and left foot
    (a stair step); horizontal: how the pelvis moves horizontally, "pin" (the grounded foot
    points' weighted centre held in place: standing tasks), "roll" (grounded feet do not slide,
    the body travels: steps, lunges, cuts) or "free" (the motion's own pelvis translations: a
    treadmill, where the stance foot slides back with the belt).
    """

    times: np.ndarray
    coords: Coords
    airborne: np.ndarray | None = None
    floor: np.ndarray | None = None
    horizontal: str = "pin"


def sample_times(seconds: float, rate: float) -> np.ndarray:
    """(F,) sample times 0, 1/rate, ... up to ``seconds``."""
    if not (seconds > 0 and rate > 0):
        raise InputError(f"a motion needs a positive duration and rate, got {seconds} s at {rate} Hz")
    return np.arange(int(round(seconds * rate)) + 1) / rate


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Smoothstep on [0, 1] (zero velocity and acceleration at both ends), clipped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def cycle(t: np.ndarray, period: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """A 0 -> 1 -> 0 profile per period: rise, hold at 1, fall, rest at 0 (fractions of the period)."""
    p = np.mod(t / period, 1.0)
    return smoothstep(p / rise) * (1.0 - smoothstep((p - rise - hold) / fall))


def standing(t: np.ndarray) -> Coords:
    """Relaxed upright posture: arms slightly abducted, elbows a little flexed, palms in."""
    z = np.zeros_like(t)
    c = {name: z.copy() for name in COORDINATES}
    c["pelvis_ty"] = z + NOMINAL_PELVIS_HEIGHT
    for s in SIDES:
        c[f"hip_adduction_{s}"] = z + np.radians(-3.0)
        c[f"knee_angle_{s}"] = z + np.radians(3.0)
        c[f"arm_add_{s}"] = z + np.radians(-12.0)
        c[f"elbow_flex_{s}"] = z + np.radians(15.0)
        c[f"pro_sup_{s}"] = z + np.radians(80.0)
    return c


def periodic_curve(phase: np.ndarray, knots_pct: list[float] | np.ndarray,
                   values_deg: list[float] | np.ndarray) -> np.ndarray:
    """A smooth periodic curve (radians) through knots given in % of the cycle and degrees.

    phase (F,) in cycles (any real; its fractional part is used). The spline is periodic
    (value and first two derivatives continuous across 100 % -> 0 %).
    """
    x = np.append(np.asarray(knots_pct, float), 100.0) / 100.0
    y = np.radians(np.append(np.asarray(values_deg, float), values_deg[0]))
    return CubicSpline(x, y, bc_type="periodic")(np.mod(phase, 1.0))


def transient_curve(t: np.ndarray, knots_s: list[float] | np.ndarray, values_deg: list[float] | np.ndarray,
                    period: float) -> np.ndarray:
    """A repeated movement (radians): a monotone cubic through knots (s, degrees) within each
    ``period``; the first and last values are held before and after (use equal end values)."""
    from scipy.interpolate import PchipInterpolator

    p = np.mod(t, period)
    k = np.asarray(knots_s, float)
    return np.radians(PchipInterpolator(k, np.asarray(values_deg, float), extrapolate=False)(np.clip(p, k[0], k[-1])))


def warp_stance(phase: np.ndarray, toe_off: float, reference: float) -> np.ndarray:
    """Phase (cycles) mapped so that a knot table drawn with toe-off at ``reference`` (fraction of
    the cycle) has it at ``toe_off``: stance and swing are stretched separately."""
    whole = np.floor(phase)
    p = phase - whole
    stance = p < toe_off
    out = np.where(stance, p * reference / toe_off, reference + (p - toe_off) * (1 - reference) / (1 - toe_off))
    return whole + out


def knots_at(speed: float, low: tuple[float, list[float]], high: tuple[float, list[float]]) -> np.ndarray:
    """Knot values (deg) at ``speed``, linear between the tables drawn at two speeds (clamped to them
    +- half their distance)."""
    (s0, v0), (s1, v1) = low, high
    w = np.clip((speed - s0) / (s1 - s0), -0.5, 1.5)
    return (1 - w) * np.asarray(v0, float) + w * np.asarray(v1, float)


def draw(rng: np.random.Generator | None, low: float, high: float, default: float) -> float:
    """``default`` without a generator, else uniform in [low, high] (a subject's style parameter)."""
    return float(default) if rng is None else float(rng.uniform(low, high))


#: Static posture offsets between people, 1 SD in deg: foot progression / hip rotation, knee and
#: ankle zero, pelvis and trunk posture (applied independently, per side for the limbs).
POSTURE_SD_DEG = {"pelvis_tilt": 2.0, "pelvis_list": 1.0, "lumbar_extension": 3.0, "lumbar_bending": 1.0,
                  "lumbar_rotation": 1.5, "hip_flexion": 2.0, "hip_adduction": 2.0, "hip_rotation": 5.0,
                  "knee_angle": 2.0, "ankle_angle": 3.0, "subtalar_angle": 3.0}
#: The pelvis frame relative to the body (deg, mean and SD): real IK results differ by subject and
#: marker placement in how far the pelvis is tilted while the thighs are where they are, and the
#: trunk frame with it. A posterior pelvis rotation d is compensated at the hips (-d) and the
#: lumbar joint (-d); the trunk's offset in space x rides on the lumbar joint, x = -d - 2 deg
#: (+- TRUNK_FRAME_SD_DEG). Each motion's own curves carry its typical frames (walking and running:
#: those of real IK, ``mv3d.simulate.cyclic.IK_PELVIS_DEG``; the squat: OpenCap's squats1, which
#: stands at d = -1, x = -2); this spread is the subject's offset about them.
PELVIS_FRAME_DEG = (0.0, 5.0)
TRUNK_FRAME_SD_DEG = 4.0


def rotate_pelvis_frame(c: Coords, pelvis: float, trunk: float) -> None:
    """Rotate the pelvis frame posteriorly by ``pelvis`` radians (the hips and the lumbar joint
    compensate, so the thighs stay where they are) and the trunk in space by ``trunk``, in place."""
    c["pelvis_tilt"] = c["pelvis_tilt"] + pelvis
    c["lumbar_extension"] = c["lumbar_extension"] - pelvis + trunk
    for side in SIDES:
        c[f"hip_flexion_{side}"] = c[f"hip_flexion_{side}"] - pelvis


def vary_posture(coords: Coords, rng: np.random.Generator | None, limits: dict[str, tuple[float, float]]
                 ) -> Coords:
    """Add a subject's static offsets (``POSTURE_SD_DEG``; the pelvis and trunk frames,
    ``PELVIS_FRAME_DEG``, ``TRUNK_FRAME_SD_DEG``) and clip every coordinate to ``limits`` (name ->
    (min, max) radians). Without a generator only the clip applies."""
    out = {k: np.array(v, dtype=float) for k, v in coords.items()}
    if rng is not None:
        for name in out:
            sd = POSTURE_SD_DEG.get(side_free(name))
            if sd is not None:
                out[name] = out[name] + np.radians(rng.normal(0.0, sd))
        d = float(np.clip(rng.normal(*PELVIS_FRAME_DEG), -12.0, 18.0))
        rotate_pelvis_frame(out, np.radians(d), np.radians(-d - 2.0 + rng.normal(0.0, TRUNK_FRAME_SD_DEG)))
    for name, (lo, hi) in limits.items():
        if name in out:
            out[name] = np.clip(out[name], lo, hi)
    return out


def slow_wobble(t: np.ndarray, rng: np.random.Generator | None, amplitude: float, seconds: float = 2.0
                ) -> np.ndarray:
    """(F,) a slowly varying random signal (RMS ``amplitude``, correlation ~``seconds``) for
    stride-to-stride variability; zeros without a generator."""
    if rng is None or len(t) < 2:
        return np.zeros_like(t)
    n = max(int((t[-1] - t[0]) / seconds) + 3, 3)
    knots = rng.normal(0.0, amplitude, n)
    return CubicSpline(np.linspace(t[0] - seconds, t[-1] + seconds, n), knots)(t)
