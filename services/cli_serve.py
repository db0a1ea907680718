"""``gridflow serve``: the HTTP services, each a command of this group.

``gridflow serve open311`` is the Open311 GeoReport v2 gateway
(:mod:`services.open311`). Registered on the main app by ``services/cli.py``.
"""

from __future__ import annotations

import typer

serve_app = typer.Typer(help="Serve gridflow's HTTP services.", no_args_is_help=True)


@serve_app.command("open311")
def open311() -> None:
    """Serve the Open311 GeoReport v2 gateway on GRIDFLOW_OPEN311_HOST:GRIDFLOW_OPEN311_PORT."""
    from services.cli import _settings
    from services.open311.server import serve

    serve(_settings())
