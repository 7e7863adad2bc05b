"""Each /insights measure on the fixed history of tests/support/insights_dataset.py equals the
value worked out by hand there (definitions: docs/measures.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.drops.service import DropService
from services.errors import UserError
from services.events import DropEvents
from services.insights.chart import render_charts
from services.insights.rules import repeat_rate, retention_rate
from services.insights.service import InsightsService
from storage.engine import Database
from storage.migrate import upgrade
from storage.tables import drops
from tests.support import insights_dataset as data

GUILD = 4242
FANS = [10_000 + i for i in range(1, 9)]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'insights.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
async def service(database: Database) -> InsightsService:
    await data.insert_history(database, GUILD, FANS)
    return InsightsService(database, DropService(database, DropEvents()))


async def test_every_measure_equals_the_hand_computed_value(service: InsightsService) -> None:
    measured = await service.store.measures(GUILD)
    # The cancelled drop is not in the sequence; the other server's drop neither.
    assert [m.name for m in measured] == list(data.ORDER)
    by_name = {m.name: m for m in measured}
    for name in data.ORDER:
        m = by_name[name]
        assert (m.joined, m.pressed, m.paid, m.refunded) == data.FUNNEL[name], name
        active, retained = data.RETENTION[name]
        assert m.active == active, name
        if retained is None:
            assert m.next_drop_id is None and retention_rate(m) is None
        else:
            assert m.retained == retained, name
            assert retention_rate(m) == pytest.approx(retained / active)
        size, again, median = data.COHORTS[name]
        assert (m.cohort_size, m.cohort_repeaters) == (size, again), name
        if median is None:
            assert m.cohort_median_seconds is None, name
        else:
            assert m.cohort_median_seconds == pytest.approx(median, abs=1e-3), name
    assert retention_rate(by_name["Alpha"]) == pytest.approx(0.8)
    assert retention_rate(by_name["Beta"]) == pytest.approx(5 / 6)
    assert repeat_rate(by_name["Beta"]) == pytest.approx(2 / 3)
    assert by_name["Beta"].forgotten == 1
    assert (by_name["Gamma"].poll_goal, by_name["Gamma"].poll_units) == (10, 6)
    assert by_name["Alpha"].poll_goal is None


async def test_preorder_interest_over_time(service: InsightsService) -> None:
    report = await service.report(GUILD)  # the default: the latest drop that opened
    assert report.drop.name == "Gamma"
    preorder = report.preorder
    assert preorder is not None
    assert preorder.goal == 10 and preorder.units == 6
    got = tuple((o.name, o.units, o.fans) for o in preorder.options)
    assert got == data.PREORDER_OPTIONS
    assert preorder.reached == data.PREORDER_REACHED
    assert preorder.tally_points == len(data.POLL_HISTORY)
    assert [m.name for m in report.history] == ["Alpha", "Beta", "Gamma"]
    assert report.next_drop is not None and report.next_drop.name == "Delta"


async def test_the_charts_draw_the_measures(service: InsightsService) -> None:
    charts = render_charts(await service.report(GUILD))
    assert charts.funnel.bars == {"Paid": 5.0, "Pressed\nGet my link": 6.0, "Joined": 4.0}
    assert charts.retention.bars == pytest.approx(
        {"#1 Alpha": 4 / 5, "#2 Beta": 5 / 6, "#3 Gamma": 2 / 7}
    )
    assert charts.cohorts.bars == pytest.approx(
        {"#1 Alpha": 1.0, "#2 Beta": 2 / 3, "#3 Gamma": 0.0}
    )
    for drawn in (charts.funnel, charts.retention, charts.cohorts):
        assert drawn.png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_refusals_are_one_sentence(service: InsightsService, database: Database) -> None:
    ids = await service.store.measures(GUILD)
    cancelled = await service.drops.resolve(GUILD, "Cancelled")
    with pytest.raises(UserError, match=r"^\*\*Cancelled\*\* was cancelled, so it has no"):
        await service.report(GUILD, str(cancelled.id))
    with pytest.raises(UserError, match="no drop called 'Nope'"):
        await service.report(GUILD, "Nope")
    with pytest.raises(UserError, match="No drop of this server has opened yet"):
        await service.report(GUILD + 7)
    assert ids  # the history is there; only the asked drops were refused
    async with database.write() as connection:
        await connection.execute(
            drops.insert().values(data.drop_row(GUILD, "Quiet", data.at(5, 1, 18), "closed"))
        )
    with pytest.raises(UserError, match=r"^\*\*Quiet\*\* has no activity yet \(nobody joined"):
        await service.report(GUILD)  # now the latest drop that opened
