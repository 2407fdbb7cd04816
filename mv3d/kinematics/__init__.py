"""OpenSim kinematics: the built-in body model, forward kinematics, scaling, IK and comparison with mocap.

Entry points: ``bodymodel.build_model`` / ``write_model``, ``forward.forward_markers`` /
``forward_from_mot``, ``scale.scale_model``, ``ik.run_ik`` / ``solve_ik``,
``compare.compare_mot`` / ``compare_trc``. Modules import OpenSim lazily.
"""
