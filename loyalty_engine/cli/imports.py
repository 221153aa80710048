"""``loyalty-engine import {products,members,scans,stores,manufacturers} FILE``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import click

from ..imports import ImportFileError, ImportKind, import_file
from .context import CliContext, InputError, pass_cli


@click.group("import")
def import_group() -> None:
    """Load CSV (plain or .gz) or Parquet files. Idempotent: re-importing a file inserts nothing.

    Order for a new chain: stores, manufacturers, products, members, then scans (any order
    works: unknown keys become placeholders that later imports fill in).
    """


def _options(func: Callable[..., None]) -> Callable[..., None]:
    decorators = [
        click.argument("file", type=click.Path(path_type=Path, dir_okay=False)),
        click.option("--map", "column_map", multiple=True, metavar="NEW=OLD|FILE",
                     help="Canonical column NEW is the file's column OLD (repeatable), or a TOML/YAML "
                          "map file (same as --map-file)."),
        click.option("--map-file", type=click.Path(path_type=Path, dir_okay=False),
                     help="TOML or YAML file of NEW = \"OLD\" pairs (flat, [columns] or per kind)."),
        click.option("--rejects", "rejects_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="Where to write rejected rows (default: <FILE name>.rejects.csv next to FILE, "
                          "or in <instance>/rejects/ when that folder is read-only)."),
        click.option("--chunk-rows", type=click.IntRange(min=1), default=None,
                     help="Rows per chunk/transaction (default: LOYALTY_IMPORT_CHUNK_ROWS, 200000)."),
        click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of a CSV file."),
        click.option("--delimiter", default=None, help="CSV delimiter (default: sniffed from , ; tab |)."),
        click.option("--progress/--no-progress", default=None,
                     help="Progress bar on stderr (default: when stderr is a terminal)."),
        click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


MAP_FILE_SUFFIXES = (".toml", ".yaml", ".yml")


def _split_map_files(column_map: tuple[str, ...], map_file: Path | None) -> tuple[tuple[str, ...], Path | None]:
    """``--map FILE`` is a map file: the issue's spelling; ``--map-file FILE`` says the same."""
    files = [Path(v) for v in column_map if "=" not in v and v.lower().endswith(MAP_FILE_SUFFIXES)]
    pairs = tuple(v for v in column_map if not ("=" not in v and v.lower().endswith(MAP_FILE_SUFFIXES)))
    if map_file is not None:
        files.append(map_file)
    if len(files) > 1:
        raise InputError("give one column map file (--map FILE or --map-file FILE), plus any NEW=OLD pairs")
    return pairs, (files[0] if files else None)


def _make_command(kind: ImportKind) -> click.Command:
    @_options
    @pass_cli
    def command(cli: CliContext, file: Path, column_map: tuple[str, ...], map_file: Path | None,
                rejects_path: Path | None, chunk_rows: int | None, encoding: str, delimiter: str | None,
                progress: bool | None, as_json: bool) -> None:
        column_map, map_file = _split_map_files(column_map, map_file)
        try:
            report = import_file(
                cli.engine, kind, file, config=cli.config, column_map=column_map, map_file=map_file,
                rejects_path=rejects_path, chunk_rows=chunk_rows, encoding=encoding, delimiter=delimiter,
                progress=progress,
            )
        except ImportFileError as exc:
            raise InputError(str(exc)) from None
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            for line in report.summary_lines():
                click.echo(line)
        if report.rejected:
            click.echo(f"warning: {report.rejected:,} rows rejected, see {report.rejects_path}", err=True)

    command.__doc__ = f"Import {kind.value} from FILE (CSV, CSV.gz or Parquet). See docs/import.md."
    return click.command(kind.value)(command)


for _kind in ImportKind:
    import_group.add_command(_make_command(_kind))

commands: list[click.Command] = [import_group]
