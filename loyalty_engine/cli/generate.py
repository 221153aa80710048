"""``loyalty-engine generate``: write a synthetic chain in the canonical import files."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from tqdm import tqdm

from ..synthetic import DEFAULT_START_DATE, ChainSpec, write_chain
from ..brand import produce_brand
from .context import CliContext, InputError

# The command also runs on its own (tests, scripts): then the settings come from the environment.
pass_cli_or_env = click.make_pass_decorator(CliContext, ensure=True)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--start-date must be YYYY-MM-DD, got {value!r}") from exc


@click.command("generate")
@click.option("--members", type=int, default=1000, show_default=True, help="Number of loyalty members.")
@click.option("--weeks", type=int, default=52, show_default=True, help="Length of the scan window in weeks.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same files.")
@click.option("--start-date", "start_date", default=DEFAULT_START_DATE.isoformat(), show_default=True,
              help="First day of the window (store-local), YYYY-MM-DD.")
@click.option("--stores", type=int, default=8, show_default=True, help="Number of stores (1-99).")
@click.option("--gzip", "compress", is_flag=True, help="Write .csv.gz files.")
@click.option("--truth", is_flag=True,
              help="Also write the hidden parameters (truth_members.parquet, truth_cycles.parquet).")
@click.option("--block-size", type=int, default=ChainSpec.block_size, show_default=True,
              help="Members simulated at once (memory vs speed; output depends on it).")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@pass_cli_or_env
def generate(cli: CliContext, members: int, weeks: int, seed: int, start_date: str, stores: int, compress: bool, truth: bool,
             block_size: int, out_dir: Path) -> None:
    """Generate a synthetic chain into OUT_DIR: products, manufacturers, stores, members and
    scans in the canonical import columns. Existing files of those names are replaced.

    The chain, its stores and its own label carry the configured brand (LOYALTY_CHAIN_NAME,
    LOYALTY_STORE_BRAND), so the lists printed for it say the same."""
    brand = cli.config
    try:
        spec = ChainSpec(members=members, weeks=weeks, seed=seed, start_date=_parse_date(start_date),
                         stores=stores, block_size=block_size, chain_name=brand.chain_name,
                         store_brand=brand.store_brand, produce_brand=produce_brand(brand.chain_name))
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is not a directory")

    with tqdm(total=members, unit="member", desc="generating", disable=None, leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        result = write_chain(spec, out_dir, gzip=compress, truth=truth, progress=progress)

    click.echo(f"synthetic chain (seed {seed}, {weeks} weeks from {spec.start_date}) in {out_dir}")
    for name, path in result.paths.items():
        count = result.counts.get(name)
        rows = f"{count:>12,} rows" if count is not None else " " * 17
        click.echo(f"  {name:<14}{rows}  {path.name}")
    lines = result.counts["scans"]
    click.echo(f"  baskets       {result.counts['baskets']:>12,}")
    click.echo(f"done in {result.seconds:.1f} s ({lines / max(result.seconds, 1e-9):,.0f} scan lines/s)")


commands: list[click.Command] = [generate]
