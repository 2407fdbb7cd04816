"""Where augmenter weights come from: mv3d's own ``.pt`` files or OpenCap's Keras folders."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mv3d.augment.augmenter import Augmenter
from mv3d.augment.opencap import load_opencap_augmenter
from mv3d.errors import InputError
from mv3d.resources import weights_file

#: mv3d's shipped augmenter (trained on synthesized LaiUhlrich2022 pairs), when present.
DEFAULT_WEIGHTS = weights_file("augmenter_laiuhlrich2022.pt")

#: The shipped augmenter trained for each model's anatomical markers (predicted markers must sit
#: where the model's markers are: an augmenter trained for another model's placements biases IK).
AUGMENTER_FOR_MODEL = {"mv3d_body": "augmenter_mv3d_body.pt", "LaiUhlrich2022": "augmenter_laiuhlrich2022.pt"}


def shipped_augmenter(model_name: str) -> Path | None:
    """The shipped weights trained for an OpenSim model (by name: ``mv3d_body``, ``LaiUhlrich2022...``), if any."""
    for key, file in AUGMENTER_FOR_MODEL.items():
        if model_name.startswith(key):
            return weights_file(file)
    return None


def load_augmenter(spec: str | os.PathLike | None = None, **kwargs: Any) -> Augmenter:
    """An Augmenter from a weights spec.

    spec: ``opencap-<version>:DIR`` (DIR holds OpenCap's ``<version>_lower`` and ``_upper``
    folders, or is one of them), a ``.pt`` file written by ``Augmenter.save``, or None for
    mv3d's default weights (``data/weights/augmenter_laiuhlrich2022.pt``).
    Extra keyword arguments (max_gap, long_gaps) go to the Augmenter.
    """
    if spec is None:
        if not DEFAULT_WEIGHTS.is_file():
            raise InputError(f"no default augmenter weights ({DEFAULT_WEIGHTS} is absent); pass weights "
                             "explicitly: --weights opencap-v0.3:DIR (OpenCap's published model folder) "
                             "or --weights FILE.pt (trained with `mv3d train augmenter`)")
        spec = DEFAULT_WEIGHTS
    text = os.fspath(spec)
    if text.startswith("opencap-"):
        version, sep, folder = text[len("opencap-"):].partition(":")
        if not sep or not folder:
            raise InputError(f"weights spec {text!r}: write opencap-<version>:DIR, e.g. opencap-v0.3:/path/augmenter")
        root = Path(folder)
        if root.name in (f"{version}_lower", f"{version}_upper"):
            root = root.parent
        return load_opencap_augmenter(root, version=version, **kwargs)
    path = Path(text)
    if path.suffix != ".pt":
        raise InputError(f"weights {text!r}: expected opencap-<version>:DIR or a .pt file")
    return Augmenter.load(path, **kwargs)
