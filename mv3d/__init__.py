"""mv3d: multi-camera video to OpenSim kinematics."""
__version__ = "0.1.0"
