"""File formats: TRC and MOT (OpenSim), 2D keypoint importers, the HDF5 session store.

All writers are atomic (``mv3d.io.atomic``): a temp file in the target's folder, renamed
over the target when complete.
"""
from mv3d.io.keypoints import Keypoints2D, read_keypoints, read_keypoints_h5, write_keypoints_h5
from mv3d.io.mot import MotData, read_mot, write_mot
from mv3d.io.store import SessionStore
from mv3d.io.trc import TrcData, read_trc, write_trc

__all__ = [
    "Keypoints2D", "MotData", "SessionStore", "TrcData",
    "read_keypoints", "read_keypoints_h5", "read_mot", "read_trc",
    "write_keypoints_h5", "write_mot", "write_trc",
]
