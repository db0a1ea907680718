"""A site catalogue's version: a digest of what its files say, with an optional label."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from schemas.catalogue import DEFAULT_SITE, CatalogueError, load_site
from tests.support.sites import tiny_site


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_version_is_twelve_hex_digits_and_stable(copy: Path) -> None:
    version = load_site(copy).version
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert load_site(copy).version == version == load_site(DEFAULT_SITE).version
    assert tiny_site().version == tiny_site().version


def test_a_comment_changes_nothing(copy: Path) -> None:
    before = load_site(copy).version
    with (copy / "units.yaml").open("a", encoding="utf-8") as f:
        f.write("# a comment says nothing the catalogue holds\n")
    assert load_site(copy).version == before


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("jurisdictions.yaml", "兴庄路社区第1网格", "兴庄路社区第一网格"),
        (
            "categories.yaml",
            "tier: community, unit_type: dispute_mediation",
            "tier: street, unit_type: dispute_mediation",
        ),
        ("site.yaml", "name:", "name: x"),
    ],
)
def test_a_change_to_a_site_file_changes_it(copy: Path, file: str, old: str, new: str) -> None:
    before = load_site(copy).version
    _edit(copy / file, old, new)
    assert load_site(copy).version != before


def test_a_change_to_the_boundaries_changes_it(copy: Path) -> None:
    before = load_site(copy).version
    path = copy / "boundaries.geojson"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('{"id":"zs"}', '{"id":"zs","note":"x"}', 1), encoding="utf-8")
    assert load_site(copy).version != before


def test_a_label_goes_before_the_digest(copy: Path) -> None:
    digest = load_site(copy).version
    with (copy / "site.yaml").open("a", encoding="utf-8") as f:
        f.write('version: "2026.03"\n')
    assert load_site(copy).version == f"2026.03@{digest}"


def test_a_label_yaml_reads_as_a_number_is_refused(copy: Path) -> None:
    with (copy / "site.yaml").open("a", encoding="utf-8") as f:
        f.write("version: 2026.03\n")
    with pytest.raises(CatalogueError, match="version must be text: quote it"):
        load_site(copy)


def test_a_copy_with_other_content_has_its_own_version() -> None:
    site = tiny_site()
    assert site.model_copy(update={"name": "Other"}).version != site.version
