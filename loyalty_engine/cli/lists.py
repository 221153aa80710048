"""``loyalty-engine lists``: build, show, export (issue 4) and render (issue 5, cli/render.py)."""
from __future__ import annotations

import click


@click.group("lists")
def lists_group() -> None:
    """Personal shopping lists: build, show, export, render."""


commands: list[click.Command] = [lists_group]
