"""``mv3d simulate``: a synthetic OpenCap-style session (videos, calibration, detections, mocap, truth)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import click


def _rig_or_name(value: str):
    """(None, name) for a built-in rig, or (CameraRig, None) read from a calibration file/folder."""
    from mv3d.errors import InputError
    from mv3d.simulate.rigs import RIG_NAMES

    if value in RIG_NAMES:
        return None, value
    if not Path(value).exists():
        raise InputError(f"--rig {value!r} is neither a built-in rig ({', '.join(RIG_NAMES)}) nor an existing "
                         "calibration file (Pose2Sim .toml, OpenCap .pickle or folder, Qualisys .qca.txt, ...)")
    from calibration import load_rig

    return load_rig(value), None


def _checked_motion(motion: str, model: str | None, flip: tuple[str, ...], tolerance: float,
                    seconds: float | None, tmp: Path) -> str:
    """The motion to simulate: a .mot checked against the model's ranges (a copy with ``flip`` applied)."""
    from mv3d.errors import InputError

    if Path(motion).suffix.lower() not in (".mot", ".sto"):
        if flip:
            raise InputError(f"--flip-sign applies to .mot motions only, not to {motion!r}")
        return motion
    if not Path(motion).is_file():
        raise InputError(f"motion file {motion} does not exist")
    from mv3d.io.mot import write_mot
    from mv3d.kinematics.coordinate_ranges import check_motion_file

    mot = check_motion_file(motion, model, flip, tolerance, seconds)
    if not flip:
        return motion
    copy = tmp / Path(motion).name          # same stem: the trial keeps the motion's name
    write_mot(copy, mot.times, mot.values, mot.columns, in_degrees=mot.in_degrees, name=mot.name)
    return str(copy)


def register(cli: click.Group) -> None:
    @cli.command("simulate")
    @click.option("--motion", default="squat", show_default=True,
                  help="Built-in motion (squat, sit_to_stand, walk_in_place/walk, arm_raises, gait[_slow|_fast], "
                       "run[_slow|_fast], jump, lunge, cutting, stairs, trunk_lean), an OpenSim .mot, "
                       "or a .trc of MV3D23 keypoints.")
    @click.option("--variant", type=int, default=None,
                  help="A subject's own version of a built-in motion (tempo, depth, speed, style, posture "
                       "offsets drawn from this number); default: the canonical motion.")
    @click.option("--model", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="OpenSim model for a .mot motion (default: mv3d's built-in model).")
    @click.option("--markers", type=click.Path(exists=True, dir_okay=False), multiple=True,
                  help="MarkerSet .xml added to the model (repeatable).")
    @click.option("--flip-sign", "flip_sign", multiple=True, metavar="COORDINATE",
                  help="Negate a coordinate of a .mot motion (repeatable; knee_angle flips knee_angle_r and _l): "
                       "for motions of models with the opposite sign convention, e.g. Gait2392/Gait2354/Hamner, "
                       "whose knee flexion is negative.")
    @click.option("--range-tolerance", type=float, default=10.0, show_default=True,
                  help="Degrees a .mot coordinate may exceed the model's range before the motion is refused.")
    @click.option("--rig", default="opencap3", show_default=True,
                  help="opencap2, opencap3, opencap5, ring4, ring8, or a calibration file.")
    @click.option("--seconds", type=float, default=10.0, show_default=True,
                  help="Duration (a motion file is trimmed to it; 0 = the whole file).")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--resolution", type=int, default=None,
                  help="Short image side (default 720 for phone rigs, 1080 for lab rings).")
    @click.option("--height", type=float, default=1.75, show_default=True, help="Subject height (m).")
    @click.option("--mass", type=float, default=70.0, show_default=True, help="Subject mass (kg).")
    @click.option("--trial", default=None, help="Trial name (default: the motion's name).")
    @click.option("--motion-blur", type=int, default=1, show_default=True, help="Sub-exposures per frame.")
    @click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  default=None, help="YAML with noise/timing settings (see configs/simulate.yaml).")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
    @click.option("--no-video", is_flag=True, help="Skip rendering the videos (calibration images are kept).")
    def simulate_cmd(motion: str, variant: int | None, model: str | None, markers: tuple[str, ...],
                     flip_sign: tuple[str, ...], range_tolerance: float, rig: str, seconds: float, seed: int, resolution: int | None,
                     height: float, mass: float, trial: str | None, motion_blur: int, config_file: Path | None,
                     out: Path, no_video: bool) -> None:
        """Simulate a session from a motion and write it in OpenCap layout, with truth/ beside it.

        A .mot motion is checked against the model's coordinate ranges first: a coordinate outside
        them (e.g. a knee flexed negative, from a Gait2392-family model) stops the command.
        """
        import tempfile

        from mv3d.config import load_config
        from mv3d.simulate.session import NoiseAndTiming, SimulationConfig, simulate, write_session

        cam_rig, rig_name = _rig_or_name(rig)
        config = SimulationConfig(motion=motion, seconds=seconds or None, rig=rig_name or "file", resolution=resolution,
                                  seed=seed, height=height, mass=mass, trial=trial, motion_blur=motion_blur,
                                  variant=variant)
        if config_file is not None:
            extra = load_config(config_file, NoiseAndTiming)
            config = replace(config, noise=extra.noise, timing=extra.timing)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mv3d_motion_") as tmp:
            checked = _checked_motion(motion, model, flip_sign, range_tolerance, seconds or None, Path(tmp))
            sim = simulate(replace(config, motion=checked), rig=cam_rig, model=model, marker_files=markers)
        sim.config = replace(sim.config, motion=motion)   # the session records the user's file
        t1 = time.perf_counter()
        from calibration import save_rig

        write_session(sim, out, video=not no_video,
                      calibration_writer=lambda r, folder: save_rig(r, folder, format="opencap"))
        t2 = time.perf_counter()
        frames = sum(len(c.times) for c in sim.timing.cameras)
        click.echo(f"{out}: trial {sim.trial}, {len(sim.rig)} cameras ({', '.join(sim.rig.names)}), "
                   f"{frames} camera frames, {sim.source.duration:.2f} s of motion; "
                   f"simulated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s")
        if sim.unseen_cameras:
            click.echo(f"warning: cameras {', '.join(sim.unseen_cameras)} do not see the whole subject", err=True)
