"""OpenSim setup files: read marker/coordinate task weights, write ScaleTool and IK setups and marker sets.

Setups are written with OpenSim's own classes (``ScaleTool``, ``InverseKinematicsTool``,
``MarkerSet``) so that the OpenSim GUI opens them. Reading uses plain XML parsing so that a
setup can be read without loading its model.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mv3d.errors import InputError
from mv3d.io.atomic import atomic_path
from mv3d.kinematics._osim import opensim


@dataclass
class TaskSet:
    """IK weights: marker name -> weight, and coordinate tasks name -> (weight, value or None=from file)."""

    markers: dict[str, float] = field(default_factory=dict)
    coordinates: dict[str, tuple[float, float | None]] = field(default_factory=dict)


@dataclass
class Measurement:
    """A scale measurement: marker pairs whose distance ratio scales the listed bodies.

    axes: per body, the axes scaled ("X Y Z" when not given). spans_joint: the pairs span a joint
    whose angle changes their distance, so a window that is not still does not measure them (the
    bodies keep the generic model's size, built for the subject's height).
    """

    name: str
    pairs: list[tuple[str, str]]
    bodies: list[str]
    axes: list[str] | None = None
    spans_joint: bool = False


def _text(elem: ET.Element | None, default: str = "") -> str:
    return default if elem is None or elem.text is None else elem.text.strip()


def _parse(path: str | os.PathLike) -> ET.Element:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"setup file {path} does not exist")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"setup file {path} is not valid XML: {exc}") from exc


def read_tasks(path: str | os.PathLike) -> TaskSet:
    """Marker and coordinate tasks of an IK setup (or of a ScaleTool's MarkerPlacer).

    Tasks with apply=false are left out.
    """
    root = _parse(path)
    tasks = TaskSet()
    for elem in root.iter("IKMarkerTask"):
        if _text(elem.find("apply"), "true").lower() == "true":
            tasks.markers[elem.get("name", "")] = float(_text(elem.find("weight"), "1"))
    for elem in root.iter("IKCoordinateTask"):
        if _text(elem.find("apply"), "true").lower() == "true":
            vtype = _text(elem.find("value_type"), "default_value")
            value = float(_text(elem.find("value"), "0")) if vtype in ("default_value", "manual_value") else None
            tasks.coordinates[elem.get("name", "")] = (float(_text(elem.find("weight"), "1")), value)
    if not tasks.markers:
        raise InputError(f"setup file {path} has no IKMarkerTask with apply=true; it is not an IK or scale setup")
    return tasks


def read_ik_options(path: str | os.PathLike) -> dict[str, Any]:
    """``accuracy``, ``constraint_weight`` and ``time_range`` of an IK setup, when present."""
    root = _parse(path)
    out: dict[str, Any] = {}
    for key in ("accuracy", "constraint_weight"):
        elem = next(root.iter(key), None)
        if elem is not None and _text(elem):
            out[key] = float(_text(elem).replace("Inf", "inf"))
    elem = next(root.iter("time_range"), None)
    if elem is not None and _text(elem):
        out["time_range"] = tuple(float(x) for x in _text(elem).split())
    return out


def read_measurements(path: str | os.PathLike) -> list[Measurement]:
    """The applied measurements of a ScaleTool setup."""
    root = _parse(path)
    out = []
    for elem in root.iter("Measurement"):
        if _text(elem.find("apply"), "true").lower() != "true":
            continue
        pairs = [tuple(_text(p.find("markers")).split()) for p in elem.iter("MarkerPair")]
        bodies = [b.get("name", "") for b in elem.iter("BodyScale")]
        axes = [" ".join(_text(b.find("axes"), "X Y Z").split()) for b in elem.iter("BodyScale")]
        out.append(Measurement(elem.get("name", ""), [p for p in pairs if len(p) == 2], bodies, axes))
    return out


def read_scale_options(path: str | os.PathLike) -> dict[str, Any]:
    """Mass, static time range and preserve_mass_distribution of a ScaleTool setup, when present."""
    root = _parse(path)
    out: dict[str, Any] = {}
    elem = next(root.iter("mass"), None)
    if elem is not None and _text(elem):
        out["mass"] = float(_text(elem))
    scaler = next(root.iter("ModelScaler"), None)
    if scaler is not None:
        tr = scaler.find("time_range")
        if tr is not None and _text(tr):
            out["time_range"] = tuple(float(x) for x in _text(tr).split())
        pm = scaler.find("preserve_mass_distribution")
        if pm is not None:
            out["preserve_mass_distribution"] = _text(pm).lower() == "true"
    return out


def builtin_measurements() -> list[Measurement]:
    """Scale measurements of the built-in model: anatomical pairs and the matching video keypoint pairs."""
    both = lambda a, b: [(a.format(s="r", S="R", v="r"), b.format(s="r", S="R", v="r")),  # noqa: E731
                         (a.format(s="L", S="L", v="l"), b.format(s="L", S="L", v="l"))]
    return [
        Measurement("pelvis", [("r.ASIS_study", "L.ASIS_study"), ("RHJC_study", "LHJC_study"), ("r_hip", "l_hip")],
                    ["pelvis"]),
        # Shoulder-hip pairs span the lumbar joint: 20 deg of flexion shortens them by ~4 %, and IK
        # then tilts the pelvis by ~6 deg (a walk's IK result, issue 16). The shoulder width, the
        # torso's only rigid pair, differs by 9 % between OpenPose's and BlazePose's keypoints.
        Measurement("torso", both("{s}_shoulder_study", "{S}HJC_study") + both("{v}_shoulder", "{v}_hip"),
                    ["torso"], spans_joint=True),
        Measurement("thigh", both("{S}HJC_study", "{s}_knee_study") + both("{v}_hip", "{v}_knee"),
                    ["femur_r", "femur_l"]),
        Measurement("shank", both("{s}_knee_study", "{s}_ankle_study") + both("{v}_knee", "{v}_ankle"),
                    ["tibia_r", "tibia_l", "talus_r", "talus_l"]),
        Measurement("foot", both("{s}_calc_study", "{s}_toe_study") + both("{v}_heel", "{v}_big_toe"),
                    ["calcn_r", "calcn_l", "toes_r", "toes_l"]),
        Measurement("upper_arm", both("{s}_shoulder_study", "{s}_lelbow_study") + both("{v}_shoulder", "{v}_elbow"),
                    ["humerus_r", "humerus_l"]),
        Measurement("forearm", both("{s}_lelbow_study", "{s}_lwrist_study") + both("{v}_elbow", "{v}_wrist"),
                    ["ulna_r", "ulna_l", "radius_r", "radius_l", "hand_r", "hand_l"]),
    ]


def print_object(obj: Any, path: str | os.PathLike) -> None:
    """``obj.printToXML`` through a temp file renamed over ``path`` (atomic)."""
    with atomic_path(path) as tmp:
        if not obj.printToXML(str(tmp)):
            raise OSError(f"OpenSim could not write {path}")


def _ik_task_set(osim: Any, weights: dict[str, float],
                 coordinates: dict[str, tuple[float, float | None]] | None = None) -> Any:
    tasks = osim.IKTaskSet()
    for name, w in weights.items():
        task = osim.IKMarkerTask()
        task.setName(name)
        task.setWeight(float(w))
        task.setApply(True)
        tasks.cloneAndAppend(task)
    for name, (w, value) in (coordinates or {}).items():
        task = osim.IKCoordinateTask()
        task.setName(name)
        task.setWeight(float(w))
        if value is None:
            task.setValueType(osim.IKCoordinateTask.FromFile)
        else:
            task.setValueType(osim.IKCoordinateTask.ManualValue)
            task.setValue(float(value))
        tasks.cloneAndAppend(task)
    return tasks


def write_ik_setup(path: str | os.PathLike, model_file: str, weights: dict[str, float],
                   coordinates: dict[str, tuple[float, float | None]] | None = None,
                   marker_file: str = "", output_motion_file: str = "", accuracy: float = 1e-5,
                   constraint_weight: float = float("inf")) -> Path:
    """Write an ``InverseKinematicsTool`` setup with the given marker (and coordinate) weights."""
    osim = opensim()
    tool = osim.InverseKinematicsTool()
    tool.setName(Path(model_file).stem)
    tool.set_model_file(model_file)
    tool.set_marker_file(marker_file)
    tool.set_output_motion_file(output_motion_file)
    tool.set_accuracy(accuracy)
    tool.set_constraint_weight(constraint_weight)
    tool.set_IKTaskSet(_ik_task_set(osim, weights, coordinates))
    print_object(tool, path)
    return Path(path)


def make_scale_tool(model_file: str, mass: float, height: float, measurements: list[Measurement],
                    weights: dict[str, float], marker_file: str = "", time_range: tuple[float, float] | None = None,
                    output_model_file: str = "", output_scale_file: str = "",
                    preserve_mass_distribution: bool = True) -> Any:
    """An ``opensim.ScaleTool`` configured in code (measurement-based scaling, then marker placement)."""
    osim = opensim()
    tool = osim.ScaleTool()
    tool.setName(Path(model_file).stem)
    tool.setSubjectMass(float(mass))
    tool.setSubjectHeight(float(height) * 1000.0)  # OpenSim documents the height in mm (informational)
    tool.getGenericModelMaker().setModelFileName(model_file)
    scaler = tool.getModelScaler()
    scaler.setApply(True)
    order = osim.ArrayStr()
    order.append("measurements")
    scaler.setScalingOrder(order)
    mset = scaler.getMeasurementSet()
    for meas in measurements:
        m = osim.Measurement()
        m.setName(meas.name)
        m.setApply(True)
        for a, b in meas.pairs:
            m.getMarkerPairSet().cloneAndAppend(osim.MarkerPair(a, b))
        for i, body in enumerate(meas.bodies):
            bs = osim.BodyScale()
            bs.setName(body)
            axes = osim.ArrayStr()
            for ax in (meas.axes[i] if meas.axes else "X Y Z").split():
                axes.append(ax)
            bs.setAxisNames(axes)
            m.getBodyScaleSet().cloneAndAppend(bs)
        mset.cloneAndAppend(m)
    scaler.setMarkerFileName(marker_file)
    scaler.setPreserveMassDist(preserve_mass_distribution)
    scaler.setOutputModelFileName(output_model_file)
    scaler.setOutputScaleFileName(output_scale_file)
    placer = tool.getMarkerPlacer()
    placer.setApply(True)
    placer.getIKTaskSet().assign(_ik_task_set(osim, weights))
    placer.setStaticPoseFileName(marker_file)
    if time_range is not None:
        tr = osim.ArrayDouble()
        tr.append(float(time_range[0]))
        tr.append(float(time_range[1]))
        scaler.setTimeRange(tr)
        placer.setTimeRange(tr)
    return tool


def write_scale_setup(path: str | os.PathLike, model_file: str, mass: float, height: float,
                      measurements: list[Measurement], weights: dict[str, float], **kwargs: Any) -> Path:
    """Write a ``ScaleTool`` setup (see ``make_scale_tool``) that the OpenSim GUI can open."""
    tool = make_scale_tool(model_file, mass, height, measurements, weights, **kwargs)
    print_object(tool, path)
    return Path(path)


def write_marker_set(model: Any, names: tuple[str, ...] | list[str], path: str | os.PathLike) -> Path:
    """Write the named markers of ``model`` as an OpenSim ``MarkerSet`` XML (bodies as /bodyset/<name>)."""
    osim = opensim()
    mset = osim.MarkerSet()
    src = model.getMarkerSet()
    for name in names:
        marker = src.get(name)
        copy = osim.Marker()
        copy.setName(name)
        copy.set_location(marker.get_location())
        copy.setParentFrameName(f"/bodyset/{marker.getParentFrameName().split('/')[-1]}")
        mset.cloneAndAppend(copy)
    print_object(mset, path)
    return Path(path)
