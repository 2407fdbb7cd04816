"""Typed configuration: dataclasses with defaults, loaded from YAML (or dicts) with strict checks.

Every config of mv3d (the pipeline's ``pipelines.config.PipelineConfig``, the training configs
of ``mv3d.pose2d.train`` and ``mv3d.augment.train``, the simulator's) is a dataclass whose field
defaults are the only defaults; ``load_config(path_or_dict, cls)`` builds it from a mapping,
recursing into nested dataclass sections. An unknown key or a value of the wrong type raises
``ConfigError`` naming the file and the dotted key (``default.yaml: triangulation.max_gap:
expected an integer, got str 'ten'``); a key the class lists in its ``REMOVED_KEYS`` (dotted
key -> what to write instead) gets that note. Keys left out keep their defaults. An int is
accepted where a float is expected; a bool is never accepted as a number. A ``__post_init__``
raising ValueError becomes a ConfigError naming the section.

``option(default, doc)`` declares a documented field; ``render_yaml(cls)`` writes the defaults
with those notes as a YAML file (``configs/default.yaml`` is generated this way).

Supported field types: bool, int, float, str, Path, Literal[...], X | None, list[X],
tuple[X, ...], dict[str, X] and nested dataclasses.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from mv3d.errors import ConfigError, InputError, brief
from mv3d.io.atomic import atomic_write
from mv3d.io.safe_yaml import load_yaml

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, where: str, removed: dict[str, str] | None = None) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (ints to floats, lists to tuples...)."""
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {brief(key, 80)[1:-1]}: expected {expected}, got {type(value).__name__} "
                           f"{brief(value)}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"a section (mapping) of {tp.__name__}")
        return _build(tp, value, key, where, removed)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        choices = [a for a in args if a is not type(None)]
        errors = []
        for choice in choices:
            try:
                return _convert(value, choice, key, where, removed)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(choices) == 1:  # X | None: report X's own message, plus that null is allowed
            raise ConfigError(errors[0] + (" (or null)" if type(None) in args else ""))
        raise fail(" or ".join(_type_name(a) for a in args))
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if tp is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise fail("a path (string)")
        return Path(value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} items")
            return tuple(_convert(v, a, f"{key}[{i}]", where) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]", where) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}", where) for k, v in value.items()}
    raise ConfigError(f"{where}: {key}: unsupported field type {_type_name(tp)} in the config class")


def _build(cls: type[T], data: dict, prefix: str, where: str, removed: dict[str, str] | None = None) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if removed and dotted in removed:
            raise ConfigError(f"{where}: {dotted!r} is no longer a config key: {removed[dotted]}")
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {brief(dotted, 80)}; known keys here: {', '.join(fields)}")
        kwargs[key] = _convert(value, hints[key], dotted, where, removed)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {prefix or 'top level'}: {exc}") from exc


def load_config(source: str | os.PathLike | dict | None, cls: type[T]) -> T:
    """Build the dataclass ``cls`` from a YAML file or a mapping (None or an empty file: all defaults)."""
    removed = getattr(cls, "REMOVED_KEYS", None)
    if isinstance(source, dict) or source is None:
        return _build(cls, source or {}, "", f"<{cls.__name__} dict>", removed)
    path = Path(source)
    try:
        data = load_yaml(path)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return _build(cls, data, "", str(path), removed)


def to_dict(config: Any) -> dict:
    """The config as plain nested dicts/lists (YAML/JSON ready; paths as strings)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v
    return plain(config)


def config_hash(config: Any) -> str:
    """A short stable hash of a config (dataclass or dict), for caching stage outputs."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write a config as YAML atomically."""
    with atomic_write(path, "w") as fh:
        yaml.safe_dump(to_dict(config), fh, sort_keys=False)
    return Path(path)


def option(default: Any, doc: str) -> Any:
    """A dataclass field with a default and a one-line note (shown by :func:`render_yaml`)."""
    return field(default=default, metadata={"doc": doc})


def section(cls: type, doc: str = "") -> Any:
    """A nested config section (a dataclass with all defaults) as a field."""
    return field(default_factory=cls, metadata={"doc": doc})


def render_yaml(cls: type, header: str, width: int = 118, comment_column: int = 29) -> str:
    """The defaults of the config class ``cls`` as commented YAML: one line per key, its note after it."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _render_fields(cls(), "", lines, width, comment_column)
    return "\n".join(lines) + "\n"


def _render_fields(obj: Any, indent: str, lines: list[str], width: int, column: int) -> None:
    for f in dataclasses.fields(obj):
        value, doc = getattr(obj, f.name), f.metadata.get("doc", "")
        if dataclasses.is_dataclass(value):
            lines.append(f"{indent}{f.name}:" + (f"  # {doc}" if doc else ""))
            _render_fields(value, indent + "  ", lines, width, column)
            continue
        text = yaml.safe_dump(to_dict(value), default_flow_style=True, width=1000)
        text = text.removesuffix("\n").removesuffix("...").strip()
        head = f"{indent}{f.name}: {text}"
        if not doc:
            lines.append(head)
            continue
        pad = max(column, len(head) + 1)
        words, current = doc.split(), ""
        for word in words:
            if current and pad + 2 + len(current) + 1 + len(word) > width:
                lines.append(f"{head:<{pad}}# {current}")
                head, current = "", word
            else:
                current = f"{current} {word}" if current else word
        lines.append(f"{head:<{pad}}# {current}")
