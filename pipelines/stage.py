"""What a pipeline stage declares: its inputs, outputs and the config it depends on."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mv3d.config import to_dict


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    name: unique stage name; run: ``run(ctx) -> None`` does the work and writes the
    outputs (arrays through ``ctx.store``, files under the session); inputs: names of
    outputs of earlier stages it reads; outputs: names it produces (array names or
    ``file:<relative path>``); config_keys: the config sections or keys (dotted) whose values it
    depends on (``keypoints2d``, ``keypoints2d.fps``); version: bump when the stage's algorithm
    changes so caches invalidate.
    """

    name: str
    run: Callable[[Any], None]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    version: int = 1
    description: str = ""
    external_inputs: Callable[[Any], list[Path]] = field(default=lambda ctx: [])


def config_subset(config: Any, keys: tuple[str, ...]) -> dict:
    """The values of the dotted keys of a config (typed sections or nested dicts; missing keys map to
    None), as plain data."""
    out = {}
    for key in keys:
        node: Any = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        out[key] = to_dict(node)
    return out


def fingerprint(stage: Stage, config: Any, upstream: list[str], files: list[list]) -> str:
    """Hash of everything a stage's result depends on: code version, config, upstream results and
    the identities of its input files (``FileHashes.identify``: session-relative names, sizes,
    content hashes; no times, so a moved or copied session keeps its fingerprints)."""
    payload = {
        "stage": stage.name,
        "version": stage.version,
        "config": config_subset(config, stage.config_keys),
        "upstream": upstream,
        "files": files,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
