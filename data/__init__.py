"""mv3d's shipped data as the package ``mv3d_data`` (weights and model cards under ``weights/``).

The files stay in the repository's ``data/`` folder; ``pyproject.toml`` installs this folder as
``mv3d_data``. Find files through :mod:`mv3d.resources`, never by path arithmetic.
"""
