"""The ``mv3d`` command line. Each module of ``pipelines/commands`` adds its subcommands.

A command module defines ``register(cli: click.Group) -> None``. Heavy imports
(torch, opensim, cv2) belong inside the command functions so that ``mv3d --help``
stays fast.
"""
from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys

import click

from pipelines import commands

# Before torch loads (the commands import it when they run): OpenMP threads that spin while waiting make every
# network call 5-10x slower on a machine whose cores are busy (measured with 2 threads on 2 shared cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """mv3d: multi-camera video to OpenSim kinematics, compared with marker mocap."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


for _info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"pipelines.commands.{_info.name}").register(cli)


def main() -> None:
    """Console entry point: user errors print one clear line and exit 2."""
    from mv3d.errors import Mv3dError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Mv3dError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
