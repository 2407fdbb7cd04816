"""Marker augmentation: LSTM models that predict anatomical markers from video keypoints.

Entry points: ``Augmenter`` (``augment(keypoints, names, height, mass)``),
``load_opencap_weights`` / ``load_opencap_augmenter`` (OpenCap's published Keras models),
``load_augmenter`` (any supported weights spec), and, for training, ``mv3d.augment.synth``
and ``mv3d.augment.train``.
"""
from __future__ import annotations

from mv3d.augment.augmenter import Augmenter, check_subject
from mv3d.augment.lstm import BodyPartModel, MarkerLSTM
from mv3d.augment.opencap import load_opencap_augmenter, load_opencap_part, load_opencap_weights
from mv3d.augment.weights import DEFAULT_WEIGHTS, load_augmenter

__all__ = ["DEFAULT_WEIGHTS", "Augmenter", "BodyPartModel", "MarkerLSTM", "check_subject", "load_augmenter",
           "load_opencap_augmenter", "load_opencap_part", "load_opencap_weights"]
