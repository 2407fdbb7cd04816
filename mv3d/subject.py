"""A subject's plausible height and mass: values outside a person's range are almost always unit mistakes.

The one home of these ranges for session metadata, the config (``height_m``, ``mass_kg``), the
augmenter and scaling.
"""
from __future__ import annotations

from mv3d.errors import InputError, brief

#: Plausible subject values per key: (low, high, unit, example).
SUBJECT_RANGES = {"height_m": (0.5, 2.7, "m", "1.75"), "mass_kg": (10.0, 400.0, "kg", "70")}


def limits(key: str) -> tuple[float, float]:
    """(low, high) of ``key`` (height_m or mass_kg)."""
    low, high = SUBJECT_RANGES[key][:2]
    return low, high


def plausible(key: str, value: float) -> bool:
    """Whether the number ``value`` of ``key`` (height_m or mass_kg) lies in its range (NaN does not)."""
    low, high = limits(key)
    return bool(low <= value <= high)


def check_subject_value(key: str, value: object, where: str = "", also: str = "") -> float:
    """``value`` of ``key`` (height_m or mass_kg) as a float within its range; InputError otherwise,
    prefixed with ``where`` (a file), naming the key, the range and the unit. ``also``: what else
    the caller accepts for the key, for the message (e.g. "auto (estimated from the keypoints)")."""
    low, high, unit, example = SUBJECT_RANGES[key]
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if plausible(key, number):
        return number
    shown = f"{number:g}" if number == number else brief(value)  # 175.0 -> 175; 'tall' -> 'tall'
    hint = " (it looks like centimetres)" if key == "height_m" and 50 <= number <= 270 else ""
    alternative = f" or {also}" if also else ""
    raise InputError(f"{where}{': ' if where else ''}{key} is {shown}{hint}; write the subject's "
                     f"{key.split('_')[0]} in {unit} between {low:g} and {high:g}{alternative}, e.g. {key}: {example}")
