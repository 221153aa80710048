"""``loyalty-engine serve``: run the web app (lane API, member pages)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click

from .context import CliContext, pass_cli


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    type=int,
    help="Run under gunicorn with this many worker processes (0: one threaded in-process server).",
)
@pass_cli
def serve(cli: CliContext, host: str, port: int, workers: int) -> None:
    """Serve the lane API (/api/v1) and member pages (/m/<token>)."""
    if workers > 0:
        _run_gunicorn(cli, host, port, workers)
        return
    from werkzeug.serving import run_simple

    from ..app import create_app

    app = create_app(cli.config)
    click.echo(f"serving on http://{host}:{port}/api/v1/health  (Ctrl-C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _run_gunicorn(cli: CliContext, host: str, port: int, workers: int) -> None:
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    env = dict(os.environ, LOYALTY_DATABASE_URL=cli.config.database_url, LOYALTY_SECRET_KEY=cli.config.secret_key)
    env["LOYALTY_INSTANCE_PATH"] = str(cli.config.instance_path)
    cmd = [gunicorn, "-w", str(workers), "-b", f"{host}:{port}", "wsgi:app"]
    from ..config import PROJECT_ROOT

    raise SystemExit(subprocess.call(cmd, env=env, cwd=str(PROJECT_ROOT)))


commands = [serve]
