"""Command groups shared by several command modules (``convert``, ``train``, ``eval``, ``frames``)."""
from __future__ import annotations

import click


def subgroup(cli: click.Group, name: str, help: str) -> click.Group:
    """The group ``name`` of ``cli``, created (with ``help``) by whichever module asks first."""
    existing = cli.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name=name, help=help)
    cli.add_command(group)
    return group
