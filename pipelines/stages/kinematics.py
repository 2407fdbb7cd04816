"""Stages ``scaling`` (the OpenSim model scaled to the subject) and ``ik`` (inverse kinematics of the
trial on the scaled model: .mot and per-frame marker errors)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mv3d.io import read_trc
from mv3d.kinematics.bodymodel import write_model
from mv3d.kinematics.ik import run_ik as inverse_kinematics
from mv3d.kinematics.scale import scale_model
from mv3d.kinematics.setups import builtin_measurements
from pipelines.context import Context
from pipelines.stage import Stage


def generic_model(ctx: Context) -> Path:
    """The generic model for scaling (written for the subject when built-in)."""
    model = ctx.config.kinematics.model
    if model != "builtin":
        return Path(model)
    height, mass = ctx.subject()
    generic = ctx.session.work_dir() / "generic_model"
    generic.mkdir(parents=True, exist_ok=True)
    return write_model(generic, height, mass)


def run_scaling(ctx: Context) -> None:
    """Scale the model to the subject from the stillest second of the trial."""
    height, mass = ctx.subject()
    if ctx.subject(estimate=False)[0] == "auto":
        ctx.warn(f"the subject's height was not given; estimated {height:.2f} m from the triangulated keypoints "
                 f"(thigh, shank and trunk lengths by Winter's proportions)")
    out = ctx.session.model_dir()
    out.mkdir(parents=True, exist_ok=True)
    trc = ctx.session.post_augmentation_trc(ctx.trial.name)
    measurements = None
    if ctx.model_name == "mv3d_body" and any(n.endswith("_study") for n in read_trc(trc).marker_names):
        # as OpenCap: scale on the anatomical markers when the augmenter predicted them (the
        # raw video keypoints of the feet and hands are too noisy to agree with them)
        measurements = [replace(m, pairs=[p for p in m.pairs if all(q.endswith("_study") for q in p)])
                        for m in builtin_measurements()]
    result = scale_model(generic_model(ctx), trc, mass, out, height=height, name=ctx.model_name,
                         measurements=measurements)
    if not result.markers_moved:
        ctx.warn(f"scaling: the trial has no still second (markers move {result.window_speed:.2f} m/s on average in "
                 f"the stillest one, {result.time_range[0]:.2f}-{result.time_range[1]:.2f} s); the segments were "
                 f"scaled from it (the torso from the subject's height: its shoulder-hip distances change as the "
                 f"trunk bends) but the model's markers were not moved onto it. Standing still for a second "
                 f"at the start of the recording gives a better scaling")


def run_ik(ctx: Context) -> None:
    out = ctx.session.kinematics_mot(ctx.trial.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    # refine + stabilize also write <trial>_coordinate_status.csv beside the .mot (mv3d.kinematics.observability)
    inverse_kinematics(ctx.scaled_model, ctx.session.post_augmentation_trc(ctx.trial.name), out,
                       errors_csv=ctx.session.ik_errors_csv(ctx.trial.name), accuracy=ctx.config.kinematics.ik_accuracy,
                       refine=ctx.model_name == "mv3d_body", stabilize=ctx.config.kinematics.stabilize,
                       keypoint_weight=ctx.config.kinematics.keypoint_weight)


SCALING = Stage("scaling", run_scaling, inputs=("trc_post",), outputs=("model_scaled",), config_keys=("kinematics",),
                external_inputs=Context.metadata_files, description="scaled OpenSim model",
                version=3)   # 2: the built-in model's heading is free; 3: marker placement starts facing the subject
IK = Stage("ik", run_ik, inputs=("trc_post", "model_scaled"), outputs=("mot",), config_keys=("kinematics",),
           description="inverse kinematics", version=4)   # 2: stabilized refine, coordinate status; 3: backward pass; 4: facing start
