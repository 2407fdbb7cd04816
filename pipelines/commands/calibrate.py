"""``mv3d calibrate intrinsics|extrinsics|refine``: checkerboard calibration and bundle adjustment.

Every command prints the reprojection error per camera and writes, beside its output, a
small PNG per camera of detected points (green) against reprojected ones (red).
"""
from __future__ import annotations

import re
from pathlib import Path

import click


def _parse_board(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not m:
        raise click.BadParameter(f"{text!r}: give the inner-corner counts as COLSxROWS, e.g. 9x6")
    return int(m.group(1)), int(m.group(2))


def _board(corners: str, square_mm: float):
    from calibration.board import Checkerboard

    cols, rows = _parse_board(corners)
    return Checkerboard(cols, rows, square_mm / 1000.0)


def _camera_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def _png_path(out: Path, camera: str, what: str) -> Path:
    folder = out if out.suffix == "" else out.parent
    stem = "calib" if out.suffix == "" else out.stem
    safe = re.sub(r"[^\w.-]", "_", camera)
    return folder / f"{stem}_{what}_{safe}.png"


def _match(names: list[str], wanted: list[str], what: str) -> list[int]:
    """Index into ``names`` of each of ``wanted``: same names, else same numbers (cam01_json ~ cam_01),
    else the same count in natural order."""
    from mv3d.errors import InputError

    if set(wanted) <= set(names):
        return [names.index(w) for w in wanted]

    def number(s: str) -> int | None:
        digits = re.findall(r"\d+", s)
        return int(digits[-1]) if digits else None

    nums = [number(n) for n in names]
    if all(number(w) in nums for w in wanted) and len(set(nums)) == len(nums):
        return [nums.index(number(w)) for w in wanted]
    if len(names) == len(wanted):
        return list(range(len(names)))
    raise InputError(f"cannot match the {what} cameras {names} to the calibration's {wanted}; name them alike")


@click.group("calibrate")
def calibrate() -> None:
    """Calibrate cameras: intrinsics and extrinsics from a checkerboard, bundle adjustment on a person."""


@calibrate.command("intrinsics")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--board", "corners", required=True, help="Inner corners COLSxROWS (squares minus one), e.g. 9x6.")
@click.option("--square", type=float, required=True, help="Square size in mm.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Calibration file to write (.toml).")
@click.option("--max-views", type=int, default=40, show_default=True, help="Board views kept per camera.")
@click.option("--candidates", type=int, default=120, show_default=True, help="Video frames searched per camera.")
def intrinsics_cmd(inputs: tuple[Path, ...], corners: str, square: float, out: Path, max_views: int,
                   candidates: int) -> None:
    """Intrinsics of one camera per INPUT (a video, or a folder of images), written together to OUT.

    Sharp views (Laplacian variance) of varied board pose are kept; outlier views are dropped.
    """
    from calibration.board import IMAGE_SUFFIXES, detect_in_images, detect_in_video
    from calibration.formats import save_rig
    from calibration.intrinsics import calibrate_intrinsics, write_coverage_png
    from mv3d.camera import CameraRig

    board = _board(corners, square)
    results = []
    for src in inputs:
        name = _camera_name(src)
        if src.is_dir():
            images = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            views = detect_in_images(images, board, max_views=max_views)
        else:
            views = detect_in_video(src, board, max_views=max_views, n_candidates=candidates)
        results.append(calibrate_intrinsics(views, name=name))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_rig(CameraRig([r.camera for r in results]), out, format="toml")
    click.echo(f"{out}: intrinsics of {len(results)} camera(s), board {board.cols}x{board.rows} x {square:g} mm")
    for r in results:
        png = write_coverage_png(r, _png_path(out, r.camera.name, "intrinsics"))
        K = r.camera.K
        click.echo(f"  {r.camera.name:>12}: RMS {r.rms:.3f} px over {r.used.sum()}/{len(r.used)} views "
                   f"(worst view {max(r.view_rms[r.used]):.3f} px)  f={K[0, 0]:.1f},{K[1, 1]:.1f}  "
                   f"c=({K[0, 2]:.1f}, {K[1, 2]:.1f})  k1={r.camera.dist[0]:+.4f}  coverage "
                   f"{100 * r.coverage_fraction:.0f}%  -> {png.name}")


@calibrate.command("extrinsics")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--intrinsics", type=click.Path(exists=True, path_type=Path), required=True,
              help="Calibration with the cameras' intrinsics (TOML, OpenCap pickle folder...).")
@click.option("--board", "corners", required=True, help="Inner corners COLSxROWS, e.g. 9x6.")
@click.option("--square", type=float, required=True, help="Square size in mm.")
@click.option("--placement", type=click.Choice(["ground", "backwall"]), default="backwall", show_default=True,
              help="Board flat on the floor, or vertical (OpenCap's two placements).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output: .toml file, or a folder for OpenCap pickles (with --to opencap).")
@click.option("--to", "fmt", type=click.Choice(["toml", "opencap"]), default="toml", show_default=True)
@click.option("--keypoints", type=click.Path(exists=True, path_type=Path), default=None,
              help="Optional 2D keypoints of a person (OpenPose/mmpose folder or .h5) to resolve pose ambiguities.")
@click.option("--keypoints-format", type=click.Choice(["openpose", "mmpose", "h5"]), default="openpose",
              show_default=True)
def extrinsics_cmd(inputs: tuple[Path, ...], intrinsics: Path, corners: str, square: float, placement: str,
                   out: Path, fmt: str, keypoints: Path | None, keypoints_format: str) -> None:
    """Camera poses from the static board seen in INPUTS (one video or image folder per camera).

    World frame = the board's (origin at its first inner corner); OpenSim's up axis is stored in the file.
    """
    import numpy as np

    from calibration.board import detect_static_board
    from calibration.extrinsics import calibrate_extrinsics
    from calibration.formats import load_rig, save_rig
    from calibration.frames import up_axis
    from calibration.plots import write_reprojection_png
    from mv3d.errors import InputError

    board = _board(corners, square)
    rig0 = load_rig(intrinsics)
    order = _match(rig0.names, [_camera_name(p) for p in inputs], "input")
    cams = [rig0[i] for i in order]
    if len(set(order)) != len(order):
        raise InputError(f"two inputs map to the same camera of {intrinsics}; name the inputs like its cameras")
    found, shown = [], []
    for cam, src in zip(cams, inputs):
        c, img = detect_static_board(src, board, expected_size=cam.size)
        found.append(c)
        shown.append(img)
    points = None
    if keypoints is not None:
        from mv3d.io import read_keypoints

        kp = read_keypoints(keypoints, format=keypoints_format, fps=30.0)
        idx = _match(kp.cameras, [c.name for c in cams], "keypoint")
        data = kp.data[idx]
        points = np.where(data[..., 2:] > 0.5, data[..., :2], np.nan).reshape(len(cams), -1, 2)
    res = calibrate_extrinsics(cams, found, board, placement=placement, correspondences=points)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_rig(res.rig, out, format=fmt)
    click.echo(f"{out}: {len(res.rig)} cameras in the board frame ({placement}), OpenSim up = world "
               f"{up_axis(res.rig.R_to_opensim) or 'oblique axis'}")
    obj = board.object_points()
    for c, cam in enumerate(res.rig):
        rep = cam.project(obj)
        png = write_reprojection_png(_png_path(out, cam.name, "extrinsics"), cam.size, found[c], rep,
                                     f"{cam.name} board", background=shown[c])
        other = "" if np.isnan(res.rms_other[c]) else f", other IPPE pose {res.rms_other[c]:.2f} px"
        ctr = cam.center
        click.echo(f"  {cam.name:>12}: reprojection {res.rms[c]:.3f} px RMS{other}; chosen by {res.reason[c]}; "
                   f"centre ({ctr[0]:+.3f}, {ctr[1]:+.3f}, {ctr[2]:+.3f}) m  -> {png.name}")


@calibrate.command("refine")
@click.option("--calib", type=click.Path(exists=True, path_type=Path), required=True,
              help="Initial calibration (any supported format).")
@click.option("--keypoints", type=click.Path(exists=True, path_type=Path), required=True,
              help="2D keypoints of one person: OpenPose/mmpose JSON folder (one sub-folder per camera) or .h5.")
@click.option("--format", "kp_format", type=click.Choice(["openpose", "mmpose", "h5"]), default="openpose",
              show_default=True)
@click.option("--height", type=float, default=None, help="Subject height in m (sets the scale); "
              "without it the initial calibration's scale is kept.")
@click.option("--gauge", default=None, help="Camera held fixed (default: the first).")
@click.option("--refine-focal", is_flag=True, help="Also refine each camera's focal length.")
@click.option("--refine-k1", is_flag=True, help="Also refine each camera's k1.")
@click.option("--min-confidence", type=float, default=0.3, show_default=True)
@click.option("--f-scale", type=float, default=2.0, show_default=True, help="Robust loss scale (px).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Refined calibration (.toml or folder).")
@click.option("--to", "fmt", type=click.Choice(["toml", "opencap"]), default="toml", show_default=True)
def refine_cmd(calib: Path, keypoints: Path, kp_format: str, height: float | None, gauge: str | None,
               refine_focal: bool, refine_k1: bool, min_confidence: float, f_scale: float, out: Path,
               fmt: str) -> None:
    """Bundle adjustment of every camera's pose on a person's 2D keypoints (the person as calibration pattern)."""
    import numpy as np

    from calibration.bundle import calibrate_from_keypoints
    from calibration.formats import load_rig, save_rig
    from calibration.plots import write_reprojection_png
    from mv3d.io import read_keypoints

    rig = load_rig(calib)
    kp = read_keypoints(keypoints, format=kp_format, fps=30.0)
    idx = _match(kp.cameras, rig.names, "keypoint")
    data = kp.data[idx]
    res = calibrate_from_keypoints(rig, data, height, min_confidence=min_confidence, gauge=gauge or 0,
                                   refine_focal=refine_focal, refine_k1=refine_k1, f_scale=f_scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_rig(res.rig, out, format=fmt)
    scale = f"height {height:g} m" if height else "initial calibration's"
    click.echo(f"{out}: {len(rig)} cameras refined on {data.shape[1]} frames x {data.shape[2]} keypoints in "
               f"{res.seconds:.1f} s (gauge {rig.names[0] if gauge is None else gauge}, scale from {scale}, "
               f"factor {res.scale:.4f})")
    uv = res.rig.project(res.points.reshape(data.shape[1], data.shape[2], 3))
    for c, cam in enumerate(res.rig):
        obs = np.where(res.inliers[c].reshape(data.shape[1:3])[..., None], data[c, ..., :2], np.nan)
        png = write_reprojection_png(_png_path(out, cam.name, "refine"), cam.size, obs, uv[c],
                                     f"{cam.name} keypoints (inliers)")
        move = np.linalg.norm(cam.center - rig[c].center) * 100
        click.echo(f"  {cam.name:>12}: median reprojection {res.error_before[c]:.2f} -> {res.error_after[c]:.2f} px, "
                   f"{res.inliers[c].sum()} inlier observations, centre moved {move:.1f} cm  -> {png.name}")


def register(cli: click.Group) -> None:
    cli.add_command(calibrate)
