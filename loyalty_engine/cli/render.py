"""CLI commands: render (attaches `lists render` to the lists group)."""
from __future__ import annotations

import click

commands: list[click.Command] = []
