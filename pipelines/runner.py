"""Run stages in order, skipping those whose inputs and config are unchanged.

Each stage's fingerprint hashes its code version, its config sections, the
fingerprints of the stages that produced its inputs, and its external input files.
The fingerprints of finished stages are kept in ``mv3d/<trial>.stages.json``; a
stage whose fingerprint matches and whose outputs exist is skipped. Changing one
config section therefore re-runs that stage and everything downstream of it, and
nothing upstream.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mv3d.errors import Mv3dError
from mv3d.io.atomic import atomic_write
from pipelines.file_hashes import FileHashes
from pipelines.stage import Stage, fingerprint

log = logging.getLogger(__name__)


class StageError(Mv3dError):
    """A stage failed; earlier outputs are intact."""


@dataclass
class StageResult:
    name: str
    status: str  # "ran", "skipped", "not selected"
    seconds: float = 0.0
    fingerprint: str = ""


@dataclass
class Runner:
    """Runs a list of stages for one trial.

    stages: in execution order; ctx: the object handed to each stage's ``run`` (it must
    have ``session``, ``trial`` and ``config`` attributes, ``has_output(name) -> bool`` and
    ``begin_stage(name)``, called before a stage runs);
    manifest_path: JSON file keeping the fingerprints of finished stages.
    """

    stages: list[Stage]
    ctx: Any
    manifest_path: Path
    results: list[StageResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names: {names}")
        self._producer = {out: s.name for s in self.stages for out in s.outputs}

    def _load_manifest(self) -> dict:
        if self.manifest_path.is_file():
            try:
                return json.loads(self.manifest_path.read_text())
            except json.JSONDecodeError:
                log.warning("stage manifest %s is unreadable; every stage will run", self.manifest_path)
        return {}

    def _save_manifest(self, manifest: dict) -> None:
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.manifest_path) as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)

    def select(self, start: str | None = None, stop: str | None = None,
               only: list[str] | None = None) -> list[str]:
        """Names of the stages to consider running, in order."""
        names = [s.name for s in self.stages]
        for name in [start, stop, *(only or [])]:
            if name is not None and name not in names:
                raise Mv3dError(f"unknown stage {name!r}; stages are: {', '.join(names)}")
        if only:
            return [n for n in names if n in only]
        lo = names.index(start) if start else 0
        hi = names.index(stop) if stop else len(names) - 1
        return names[lo:hi + 1]

    def run(self, start: str | None = None, stop: str | None = None, only: list[str] | None = None,
            force: bool = False, progress=None) -> list[StageResult]:
        """Run the selected stages; returns one result per stage (ran, skipped or not selected)."""
        selected = set(self.select(start, stop, only))
        manifest = self._load_manifest()
        hashes = FileHashes(self.ctx.session.root, self.manifest_path.parent / "file_hashes.json")
        try:
            return self._run_stages(selected, manifest, hashes, force, progress)
        finally:
            hashes.save()

    def _run_stages(self, selected: set[str], manifest: dict, hashes: FileHashes, force: bool,
                    progress) -> list[StageResult]:
        fingerprints: dict[str, str] = {}
        self.results = []
        for stage in self.stages:
            upstream = sorted({fingerprints.get(self._producer[i], "") for i in stage.inputs if i in self._producer})
            fp = fingerprint(stage, self.ctx.config, upstream, hashes.identify(stage.external_inputs(self.ctx)))
            fingerprints[stage.name] = fp
            if stage.name not in selected:
                self.results.append(StageResult(stage.name, "not selected", 0.0, fp))
                continue
            missing_inputs = [i for i in stage.inputs if not self.ctx.has_output(i)]
            if missing_inputs:
                raise StageError(
                    f"session {self.ctx.session.root}, trial {self.ctx.trial.name}: stage {stage.name!r} needs "
                    f"{', '.join(missing_inputs)}, which no earlier run produced; run the earlier stages first "
                    f"(without --from/--only)")
            done = manifest.get(stage.name, {}).get("fingerprint") == fp
            if done and not force and all(self.ctx.has_output(o) for o in stage.outputs):
                log.info("stage %s: unchanged, skipped", stage.name)
                self.results.append(StageResult(stage.name, "skipped", 0.0, fp))
                if progress:
                    progress(stage, "skipped", 0.0)
                continue
            manifest.pop(stage.name, None)
            self._save_manifest(manifest)
            if progress:
                progress(stage, "running", 0.0)
            self.ctx.begin_stage(stage.name)
            t0 = time.perf_counter()
            try:
                stage.run(self.ctx)
            except Mv3dError as exc:
                raise StageError(f"trial {self.ctx.trial.name}, stage {stage.name}: {exc}") from exc
            except Exception as exc:  # an unexpected failure: keep its type and message visible
                raise StageError(f"trial {self.ctx.trial.name}, stage {stage.name} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
            seconds = time.perf_counter() - t0
            manifest[stage.name] = {"fingerprint": fp, "seconds": round(seconds, 3),
                                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            self._save_manifest(manifest)
            log.info("stage %s: %.2f s", stage.name, seconds)
            self.results.append(StageResult(stage.name, "ran", seconds, fp))
            if progress:
                progress(stage, "ran", seconds)
        return self.results
