"""``gridflow site``: check a site catalogue, and reload it into the running processes.

``gridflow site check`` validates the site directory (``GRIDFLOW_SITE`` or
``--site``) as the processors load it, and prints its version, or every reason it
is refused.

``gridflow site reload`` is the operator's one step after editing the catalogue,
run as the admin (a super user on a SASL broker):

1. it validates the directory; a catalogue that does not load is refused with its
   reasons, nothing is provisioned and nothing signalled, and the processes keep
   the catalogue they use;
2. it creates the topics the catalogue needs that are missing (a new unit's
   assignment and command topics, a new sender's), with the same configuration as
   ``gridflow topics create``;
3. with ``--credentials`` (or ``GRIDFLOW_KAFKA_CREDENTIALS_FILE``), it applies the
   principals and ACLs of the grants as ``gridflow acl apply`` does (without
   pruning), so a new unit may write its commands and read its assignments;
4. it writes the marker ``reload.json`` in the site directory, naming the version
   it provisioned (:mod:`services.site_watch`). Every intake and router watching the
   directory takes that version up within ``GRIDFLOW_SITE_RELOAD_SECONDS``, between
   two batches.

The processors never provision: they need no admin rights. Registered on the main
app by ``services/cli.py`` (``app.add_typer(site_app, name="site")``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from schemas.catalogue import DEFAULT_SITE, CatalogueError, Site, load_site

if TYPE_CHECKING:
    from services.runtime.names import Names

site_app = typer.Typer(help="The site catalogue: check it, reload it.", no_args_is_help=True)
console = Console()

SiteOption = Annotated[
    Path | None,
    typer.Option("--site", help="The site directory; default GRIDFLOW_SITE, else the bundled."),
]


def _load(directory: Path | None) -> tuple[Path, Site]:
    """The site in ``directory`` (else the settings'), or exit 2 with every reason."""
    from services.settings import Settings

    root = directory or Settings().site or DEFAULT_SITE
    try:
        return root, load_site(root)
    except CatalogueError as exc:
        console.print(f"[red]site catalogue refused[/]: {root}")
        for reason in _reasons(str(exc)):
            console.print(f"  {reason}", markup=False)
        console.print("nothing provisioned or signalled: the processes keep their catalogue")
        raise typer.Exit(2) from None


def _reasons(text: str) -> list[str]:
    """One reason a line, without pydantic's trailer (input echo, documentation link)."""
    out = []
    for line in text.replace("; ", "\n").splitlines():
        line = line.split(" [type=")[0].strip()
        if line and "errors.pydantic.dev" not in line and not line.startswith("'"):
            out.append(line.removeprefix("Value error, "))
    return out


@site_app.command("check")
def check(site: SiteOption = None) -> None:
    """Validate the site catalogue as the processors load it; print its version."""
    root, loaded = _load(site)
    console.print(
        f"site {loaded.id} ({root}): version {loaded.version}; {len(loaded.jurisdictions)} "
        f"jurisdictions, {len(loaded.units)} units, {len(loaded.categories)} categories",
        markup=False,
    )


@site_app.command("reload")
def reload(
    site: SiteOption = None,
    credentials: Annotated[
        Path | None,
        typer.Option(
            envvar="GRIDFLOW_KAFKA_CREDENTIALS_FILE",
            help="YAML file, principal -> password (mode 0600): apply the ACLs too.",
        ),
    ] = None,
    generate: Annotated[
        bool, typer.Option(help="Add random passwords for new principals to the file.")
    ] = False,
) -> None:
    """Check the catalogue, provision its new topics (and ACLs), then signal the processes.

    Connects as the admin with GRIDFLOW_KAFKA_BOOTSTRAP and GRIDFLOW_KAFKA_*; idempotent.
    """
    from services.runtime.names import Names
    from services.runtime.security import client_security
    from services.settings import Settings
    from services.site_watch import write_marker
    from services.topics import create_topics, site_topics

    root, loaded = _load(site)
    settings = Settings()
    names = Names(settings.namespace)
    security = client_security()  # on a SASL broker: as the admin (GRIDFLOW_KAFKA_USERNAME)
    topics = site_topics(loaded)
    created, existed = create_topics(
        settings.kafka_bootstrap, topics, settings.topic_replication, names, security
    )
    console.print(f"topics: {created} created, {existed} already there")
    provisioned = [f"topics:{len(topics)}"]
    if credentials is not None:
        acls = _acls(loaded, credentials, generate, settings.kafka_bootstrap, names, security)
        provisioned.append(f"acls:{acls}")
    else:
        console.print("ACLs: not applied (no --credentials: a deployment without ACLs)")
    marker = write_marker(root, loaded, datetime.now(UTC), provisioned)
    console.print(
        f"site {loaded.id} version {loaded.version} provisioned; {marker} written: intake "
        f"and the router take it up within {settings.site_reload_seconds:g} s",
        markup=False,
    )


def _acls(
    site: Site,
    credentials: Path,
    generate: bool,
    bootstrap: str,
    names: Names,
    security: dict[str, Any],
) -> int:
    """Apply the grants' principals and ACLs (no prune); the number of ACLs created."""
    from schemas.access import grants
    from services.acl import CredentialsError, admin_client, apply, ensure_credentials, principals
    from services.processors import PROCESSORS

    try:
        passwords, generated = ensure_credentials(
            credentials, principals(grants(site, PROCESSORS)), generate
        )
    except (CredentialsError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        console.print("topics created, nothing signalled: fix the credentials and run again")
        raise typer.Exit(2) from None
    if generated:
        console.print(f"generated {len(generated)} password(s) into {credentials}")
    admin = admin_client(bootstrap, security)
    try:
        done = apply(admin, site, PROCESSORS, names, passwords)
    finally:
        admin.close()
    console.print(
        f"credentials: {len(done.credentials_created)} created; ACLs: "
        f"{len(done.acls_created)} created, {len(done.acls_present)} already present"
    )
    return len(done.acls_created)
