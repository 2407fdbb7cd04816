"""Rendering speed of the simulator: frames per second at 720p and 1080p, and a whole session.

Prints, per resolution: drawing only (background copy, body label fill, per-pixel cylinder
shading and limb-aligned cloth/skin texture, edge anti-aliasing, sensor noise), drawing plus
mp4v encoding, and the one-off background ray-cast; then the wall time of a complete
10 s, 3-camera OpenCap-style session with videos (written to a temp folder).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_render.py [--frames 120] [--no-session]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def bench_resolution(resolution: int, frames: int) -> dict[str, float]:
    import numpy as np

    from mv3d.simulate.render import Renderer
    from mv3d.simulate.scene import room_background, write_video
    from mv3d.simulate.session import SimulationConfig, simulate

    sim = simulate(SimulationConfig(motion="squat", seconds=max(frames / 60 + 0.3, 1.0), rig="opencap2",
                                    resolution=resolution, seed=0))
    cam = sim.rig[0]
    points = sim.points3d[0][:frames]
    centre = np.nanmean(points[:, -1], axis=0)
    t0 = time.perf_counter()
    background = room_background(cam, centre, sim.rig.R_to_opensim, float(sim.board.stand_point()[1]))
    t_bg = time.perf_counter() - t0
    renderer = Renderer(cam, background)
    t0 = time.perf_counter()
    for s in range(0, len(points), 32):
        renderer.render([points[s:s + 32]])
    t_draw = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_video(Path(tmp) / "bench.mp4",
                    (f for s in range(0, len(points), 32) for f in renderer.render([points[s:s + 32]])), 60.0, cam.size)
        t_video = time.perf_counter() - t0
    return {"frames": len(points), "draw_fps": len(points) / t_draw, "video_fps": len(points) / t_video,
            "background_s": t_bg}


def bench_session(seconds: float = 10.0) -> tuple[float, float, int]:
    from mv3d.simulate.session import SimulationConfig, simulate, write_session

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sim = simulate(SimulationConfig(motion="squat", seconds=seconds, rig="opencap3", seed=0))
        t1 = time.perf_counter()
        write_session(sim, tmp, video=True)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, sum(len(c.times) for c in sim.timing.cameras)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--no-session", action="store_true", help="skip the whole-session timing")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores; one camera, portrait phone (opencap2 Cam0), squat")
    for resolution, label in ((720, "720p (720x1280)"), (1080, "1080p (1080x1920)")):
        r = bench_resolution(resolution, args.frames)
        print(f"{label:18s} draw {r['draw_fps']:6.1f} fps   draw+mp4v {r['video_fps']:6.1f} fps   "
              f"background ray-cast {r['background_s']:.2f} s  ({r['frames']} frames)")
    if not args.no_session:
        t_sim, t_write, n = bench_session()
        print(f"10 s session, 3 cameras 720p, {n} frames: simulate {t_sim:.1f} s, write (videos, board images, "
              f"JSON, truth) {t_write:.1f} s, total {t_sim + t_write:.1f} s")


if __name__ == "__main__":
    main()
