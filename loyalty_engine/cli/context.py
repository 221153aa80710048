"""What every command gets: the config and a lazily created engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import click
from sqlalchemy import Engine

from ..config import Config
from ..db import make_engine


class InputError(click.ClickException):
    """A bad input file or argument: one clear message and exit code 2."""

    exit_code = 2


@dataclass
class CliContext:
    config: Config = field(default_factory=Config.from_env)

    @classmethod
    def from_env(cls, database_url: str | None = None) -> "CliContext":
        config = Config.from_env()
        if database_url:
            config = config.with_overrides(database_url=database_url)
        return cls(config=config)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.config.database_url)


pass_cli = click.make_pass_decorator(CliContext)
