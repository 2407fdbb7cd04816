"""23-joint (MV3D23) 2D pose: heatmap networks, decoding, top-down inference, training, OKS evaluation.

Entry points: ``build_model(name, num_joints)``, ``load_model(weights)``,
``TopDownEstimator(model).estimate_frames(frames)``, ``estimate_video``, ``train(cfg)``,
``evaluate_files(gt, results)``.
"""
from __future__ import annotations

from mv3d.pose2d.checkpoints import LoadReport, load_model, load_weights
from mv3d.pose2d.models import MODEL_NAMES, build_model, count_parameters
from mv3d.pose2d.topdown import TopDownEstimator, estimate_video

__all__ = ["MODEL_NAMES", "LoadReport", "TopDownEstimator", "build_model", "count_parameters", "estimate_video",
           "load_model", "load_weights"]
