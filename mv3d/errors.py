"""Errors a user can act on. The message names the file, camera, frame or key and what to do."""
from __future__ import annotations


class Mv3dError(Exception):
    """Base class of every error raised for bad input; the CLI prints its message in one line."""


class InputError(Mv3dError, ValueError):
    """A file, array or argument that cannot be used as given."""


class ConfigError(InputError):
    """A configuration file with an unknown key, a wrong type or a bad value."""


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about untrusted values.

    A value from a user's file may be huge (a YAML alias bomb expands to gigabytes when
    printed); an error message quotes at most ``limit`` characters of it.
    """
    if isinstance(value, (list, tuple, dict, set)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
