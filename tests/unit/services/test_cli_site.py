"""``gridflow site check`` and the refusal of ``gridflow site reload``: a catalogue that
does not load is refused with every reason, and nothing is provisioned or signalled.
(The provisioning itself runs on a real broker: tests/integration/router.)"""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from schemas.catalogue import DEFAULT_SITE, load_site
from services.cli_site import site_app
from services.site_watch import RELOAD_MARKER

runner = CliRunner()


def test_check_prints_the_version(tmp_path: Path) -> None:
    result = runner.invoke(site_app, ["check", "--site", str(DEFAULT_SITE)])
    assert result.exit_code == 0, result.output
    assert load_site().version in result.output


def test_a_bad_catalogue_is_refused_with_its_reasons_and_not_signalled(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, site)
    path = site / "units.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("jurisdiction: zs-xzl,", "jurisdiction: zs-nope,", 1), "utf-8")
    for command in ("check", "reload"):
        result = runner.invoke(site_app, [command, "--site", str(site)])
        assert result.exit_code == 2, result.output
        assert "unknown jurisdiction zs-nope" in result.output
        assert "errors.pydantic.dev" not in result.output
    assert not (site / RELOAD_MARKER).exists()  # reload refused before provisioning
