"""A changed catalogue taken up while the processes run (services.site_watch).

The router and intake work with the new catalogue from their next batch, with no
restart; a catalogue that does not load is refused (logged, counted) and the one
in use stays; one that needs new topics or ACLs waits for ``gridflow site reload``
to provision it and write its marker.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from intake import Intake
from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import CaseDispatched, CaseReceived
from schemas.catalogue import DEFAULT_SITE, Site, load_site
from schemas.processing import Inbound
from schemas.reports import Channel, RawReport
from schemas.topics import assignment_topic
from services.site_watch import RELOADS, SiteWatch, provisioning, write_marker
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI
from tests.unit.router.support import case

NOW = datetime(2026, 9, 21, 10, tzinfo=SHANGHAI)
GRID = "zs-xzl-g01"
NEW_UNIT = (
    "- {id: zs.bikes, name: 庄市街道共享单车管理专班, jurisdiction: zs, "
    "unit_types: [shared_bikes]}\n"
)
NEW_CATEGORY = (
    "- {code: urban.shared_bikes, name: Shared bikes parked badly, name_zh: 共享单车乱停放, "
    "group: 城建管理, tier: street, unit_type: shared_bikes}\n"
)


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, target)
    return target


def add_unit(directory: Path) -> None:
    """A new street unit, and the new category it owns."""
    with (directory / "units.yaml").open("a", encoding="utf-8") as f:
        f.write(NEW_UNIT)
    with (directory / "categories.yaml").open("a", encoding="utf-8") as f:
        f.write(NEW_CATEGORY)


def rename_street(directory: Path) -> None:
    """A change that needs no topic: the street's name."""
    path = directory / "jurisdictions.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("name: 庄市街道,", "name: 庄市街道(新),", 1), encoding="utf-8")


def count(processor: str, outcome: str) -> float:
    return RELOADS.labels(processor, outcome)._value.get()


def raw(category: str, external_id: str = "r-1") -> RawReport:
    return RawReport(
        channel=Channel.GRID_APP,
        external_id=external_id,
        reported_at=NOW,
        category=category,
        grid_id=GRID,
        title="bikes",
        description="bikes on the pavement",
    )


def test_a_change_needing_no_topic_is_taken_up_after_the_period(site_dir: Path) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteWatch(site, site_dir, period=30, processor="router", monotonic=ticker)
    taken = count("router", "taken")
    assert watch.changed() is None
    rename_street(site_dir)
    ticker.t = 10
    assert watch.changed() is None  # not looked at again before the period
    ticker.t = 31
    new = watch.changed()
    assert new is not None and new.version != site.version
    assert new.jurisdiction("zs").name == "庄市街道(新)"  # type: ignore[union-attr]
    assert watch.site is new
    assert count("router", "taken") == taken + 1
    ticker.t = 100
    assert watch.changed() is None  # once


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("jurisdictions.yaml", "parent: zs}", "parent: zs-nowhere}"), "unknown parent zs-nowhere"),
        (("units.yaml", "id: zs.urban,", "id: zs.governance,"), "duplicate unit ids"),
        (
            ("categories.yaml", "unit_type: agriculture}", "unit_type: forestry}"),
            "no unit has type",
        ),
        (("site.yaml", "entry_tier: street", "entry_tier: [street"), "not valid YAML"),
    ],
)
def test_a_change_that_does_not_load_is_refused_and_the_catalogue_stays(
    site_dir: Path, change: tuple[str, str, str], said: str, caplog: pytest.LogCaptureFixture
) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteWatch(site, site_dir, period=1, processor="intake", monotonic=ticker)
    refused = count("intake", "refused")
    name, old, new = change
    path = site_dir / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    ticker.t = 2
    assert watch.changed() is None
    assert watch.site is site
    assert count("intake", "refused") == refused + 1
    [record] = [r for r in caplog.records if r.getMessage().startswith("site change refused")]
    assert said in record.reason  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8")  # put back: nothing new to take up
    ticker.t = 4
    assert watch.changed() is None
    rename_street(site_dir)  # fixed and changed: taken up at the next look
    ticker.t = 6
    assert watch.changed() is not None


def test_a_new_unit_waits_for_site_reload_to_provision_it(
    site_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteWatch(site, site_dir, period=1, processor="router", monotonic=ticker)
    waiting = count("router", "waiting")
    add_unit(site_dir)
    ticker.t = 2
    assert watch.changed() is None
    assert count("router", "waiting") == waiting + 1
    assert "waits for gridflow site reload" in caplog.text
    new = load_site(site_dir)
    needs = provisioning(site, new)
    assert f"topic {assignment_topic('zs.bikes').name}" in needs
    assert "topic gridflow.commands.zs.bikes" in needs
    assert any(n.startswith("acl zs.bikes write topic gridflow.commands.zs.bikes") for n in needs)
    write_marker(site_dir, new, NOW, needs)  # what gridflow site reload does once provisioned
    ticker.t = 4
    taken = watch.changed()
    assert taken is not None and taken.version == new.version
    assert taken.unit("zs.bikes") is not None


def test_no_watch_looks_when_nothing_changed(site_dir: Path) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteWatch(site, site_dir, period=1, processor="router", monotonic=ticker)
    write_marker(site_dir, site, NOW, [])  # a reload of the version in use
    ticker.t = 2
    assert watch.changed() is None
    assert watch.site is site


class Handover:
    """A site source that hands over the catalogue it is given, once."""

    def __init__(self) -> None:
        self.next: Site | None = None

    def changed(self) -> Site | None:
        new, self.next = self.next, None
        return new


def _received(case_id: str, category: str) -> CaseReceived:
    c = case(case_id, category=category, grid=GRID)
    c = c.model_copy(update={"reported_at": NOW, "received_at": NOW})
    return CaseReceived.derive(c, producer="intake", now=NOW, case_id=case_id)


def test_the_router_routes_the_next_batch_on_the_new_catalogue(site_dir: Path) -> None:
    site = load_site(site_dir)
    source = Handover()
    router = Router(site, MemoryCaseStore(), sites=source)
    [before] = router.handle([Inbound(_received("GF-1", "urban.garbage"), NOW, "")])
    [told] = [e.message for e in before if isinstance(e.message, CaseDispatched)]  # type: ignore[list-item]
    assert told.payload.assignment.catalogue_version == site.version
    add_unit(site_dir)
    source.next = new = load_site(site_dir)
    batch = [Inbound(_received(f"GF-{i}", "urban.shared_bikes"), NOW, "") for i in (2, 3)]
    outcomes = router.handle(batch)
    for emits in outcomes:
        assert isinstance(emits, list), emits
        [told] = [e.message for e in emits if isinstance(e.message, CaseDispatched)]  # type: ignore[list-item]
        assignment = told.payload.assignment
        assert assignment.unit_id == "zs.bikes"
        assert assignment.catalogue_version == new.version != site.version
        assert f"Catalogue {new.version}." in assignment.why.text  # type: ignore[union-attr]
        assert assignment_topic("zs.bikes").name in {e.topic for e in emits}


def test_intake_checks_the_next_batch_on_the_new_catalogue(site_dir: Path) -> None:
    source = Handover()
    site = load_site(site_dir)
    intake = Intake(site, sites=source)
    handle_one(intake, raw("urban.garbage"), NOW)
    assert intake.site is site
    assert site.category("urban.shared_bikes") is None
    add_unit(site_dir)
    source.next = new = load_site(site_dir)
    [emit] = handle_one(intake, raw("urban.shared_bikes", "r-2"), NOW)
    assert intake.site is new
    case_ = emit.message.payload  # type: ignore[attr-defined]
    assert case_.category == "urban.shared_bikes" and case_.grid_id == GRID


def test_an_override_change_needs_no_topic_and_is_taken_up_on_its_own(site_dir: Path) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteWatch(site, site_dir, period=1, processor="router", monotonic=ticker)
    path = site_dir / "site.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "      categories: [economy.wage_arrears]\n"
    assert anchor in text
    path.write_text(
        text.replace(
            anchor, "      categories: [economy.wage_arrears, economy.enterprise_service]\n"
        ),
        encoding="utf-8",
    )
    ticker.t = 2
    new = watch.changed()
    assert new is not None and provisioning(site, new) == []
    router = Router(site, MemoryCaseStore(), sites=Handover())
    router._sites.next = new  # type: ignore[attr-defined]
    [emits] = router.handle([Inbound(_received("GF-9", "economy.enterprise_service"), NOW, "")])
    assert isinstance(emits, list)
    [told] = [e.message for e in emits if isinstance(e.message, CaseDispatched)]  # type: ignore[list-item]
    assert told.payload.assignment.catalogue_version == new.version  # type: ignore[attr-defined]
