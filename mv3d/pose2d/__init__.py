"""23-joint (MV3D23) 2D pose: heatmap networks, decoding, top-down inference, training, OKS evaluation.

Entry points: ``resolve_model(spec)`` (a 2D model by spec: ``demo_synthetic``, ``hrnet:<checkpoint>``),
``estimate_keypoints2d(estimator, videos)``, ``build_model(name, num_joints)``, ``load_model(weights)``,
``TopDownEstimator(model).estimate_frames(frames)``, ``train(cfg)``, ``evaluate_files(gt, results)``.
"""
from __future__ import annotations

from mv3d.pose2d.checkpoints import LoadReport, load_model, load_weights
from mv3d.pose2d.estimators import MODELS, estimate_keypoints2d, resolve_model
from mv3d.pose2d.interface import Estimator, EstimatorOptions, PersonKeypoints, VideoKeypoints
from mv3d.pose2d.models import MODEL_NAMES, build_model, count_parameters
from mv3d.pose2d.topdown import TopDownEstimator

__all__ = ["MODELS", "MODEL_NAMES", "Estimator", "EstimatorOptions", "LoadReport", "PersonKeypoints",
           "TopDownEstimator", "VideoKeypoints", "build_model", "count_parameters", "estimate_keypoints2d",
           "load_model", "load_weights", "resolve_model"]
