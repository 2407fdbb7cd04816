"""Video and time: decoding with true timestamps, frame extraction, camera synchronisation from
2D keypoints, Kalman/RTS smoothing, optical-flow retiming, alignment with motion capture.

OpenCV is imported inside the functions that decode or warp images, so importing this
package stays light.
"""
from mv3d.video.align import Alignment, align_series
from mv3d.video.flow import FlowInterpolator, interpolate_video, retime_cameras, retime_frames, retime_keypoints
from mv3d.video.frames import FrameBatch, TimingReport, VideoInfo, extract_frames, iter_batches, iter_frames, probe
from mv3d.video.kalman import KalmanResult, kalman_smooth, smooth_keypoints
from mv3d.video.sync import SyncParams, SyncResult, synchronize

__all__ = [
    "Alignment", "FlowInterpolator", "FrameBatch", "KalmanResult", "SyncParams", "SyncResult", "TimingReport",
    "VideoInfo", "align_series", "extract_frames", "interpolate_video", "iter_batches", "iter_frames",
    "kalman_smooth", "probe", "retime_cameras", "retime_frames", "retime_keypoints", "smooth_keypoints",
    "synchronize",
]
