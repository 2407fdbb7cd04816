"""The runner skips unchanged stages, re-runs changed ones and everything downstream."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from mv3d.errors import Mv3dError
from pipelines.runner import Runner, StageError
from pipelines.stage import Stage


@dataclass
class Ctx:
    root: Path
    config: dict
    outputs: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)

    def __post_init__(self):
        self.session = SimpleNamespace(root=self.root)
        self.trial = SimpleNamespace(name="trial1")

    def begin_stage(self, name: str) -> None:
        self.calls.append(f"begin {name}")

    def has_output(self, name: str) -> bool:
        return name in self.outputs


def _stages(fail_at: str | None = None) -> list[Stage]:
    def make(name, inputs, outputs):
        def run(ctx):
            assert ctx.calls[-1] == f"begin {name}"
            ctx.calls.pop()
            ctx.calls.append(name)
            if name == fail_at:
                raise ValueError("boom")
            for o in outputs:
                ctx.outputs[o] = (name, ctx.config.get(name))
        return Stage(name, run, inputs=inputs, outputs=outputs, config_keys=(name,))

    return [
        make("keypoints2d", (), ("kp2d",)),
        make("sync", ("kp2d",), ("offsets",)),
        make("triangulation", ("kp2d", "offsets"), ("kp3d",)),
        make("ik", ("kp3d",), ("mot",)),
    ]


def test_second_run_skips_everything_and_config_change_reruns_downstream(tmp_path):
    ctx = Ctx(tmp_path, {"triangulation": {"cutoff": 6}})
    runner = Runner(_stages(), ctx, tmp_path / "m.json")
    assert [r.status for r in runner.run()] == ["ran"] * 4
    ctx.calls.clear()
    assert [r.status for r in runner.run()] == ["skipped"] * 4
    assert ctx.calls == []
    ctx.config["triangulation"]["cutoff"] = 8
    statuses = {r.name: r.status for r in runner.run()}
    assert statuses == {"keypoints2d": "skipped", "sync": "skipped", "triangulation": "ran", "ik": "ran"}
    assert ctx.calls == ["triangulation", "ik"]


def test_only_and_from_select_stages(tmp_path):
    ctx = Ctx(tmp_path, {})
    runner = Runner(_stages(), ctx, tmp_path / "m.json")
    runner.run()
    ctx.calls.clear()
    runner.run(only=["sync"], force=True)
    assert ctx.calls == ["sync"]
    ctx.calls.clear()
    runner.run(start="triangulation", force=True)
    assert ctx.calls == ["triangulation", "ik"]
    with pytest.raises(Mv3dError, match="unknown stage 'nope'"):
        runner.run(only=["nope"])


def test_missing_output_reruns_and_failure_keeps_earlier_results(tmp_path):
    ctx = Ctx(tmp_path, {})
    runner = Runner(_stages(), ctx, tmp_path / "m.json")
    runner.run()
    del ctx.outputs["kp3d"]
    ctx.calls.clear()
    runner.run()
    assert ctx.calls == ["triangulation"]  # ik's input fingerprint is unchanged and its output exists

    ctx2 = Ctx(tmp_path / "b", {})
    with pytest.raises(StageError, match="trial trial1, stage triangulation failed: ValueError: boom"):
        Runner(_stages(fail_at="triangulation"), ctx2, tmp_path / "b" / "m.json").run()
    assert set(ctx2.outputs) == {"kp2d", "offsets"}
    # a later run resumes at the failed stage
    ctx2.calls.clear()
    Runner(_stages(), ctx2, tmp_path / "b" / "m.json").run()
    assert ctx2.calls == ["triangulation", "ik"]


def test_from_without_earlier_outputs_is_a_clear_error(tmp_path):
    ctx = Ctx(tmp_path, {})
    with pytest.raises(StageError, match="needs kp3d"):
        Runner(_stages(), ctx, tmp_path / "m.json").run(only=["ik"])
