"""Errors a user can act on. The message names the file, camera, frame or key and what to do."""
from __future__ import annotations


class Mv3dError(Exception):
    """Base class of every error raised for bad input; the CLI prints its message in one line."""


class InputError(Mv3dError, ValueError):
    """A file, array or argument that cannot be used as given."""


class ConfigError(InputError):
    """A configuration file with an unknown key, a wrong type or a bad value."""
