"""Synthetic sessions from a motion: camera rigs, clocks, a 2D detector error model, rendered
videos and checkerboard images, simulated mocap, and the ground truth of every stage.

Entry points: :func:`simulate` (arrays) and :func:`write_session` (OpenCap-layout folder with
``truth/``); :func:`motion_library` (built-in parametric motions).
"""
from __future__ import annotations

from mv3d.simulate.motions import motion_library
from mv3d.simulate.session import SimulatedSession, SimulationConfig, simulate, write_session

__all__ = ["SimulatedSession", "SimulationConfig", "motion_library", "simulate", "write_session"]
