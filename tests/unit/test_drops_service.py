"""The drops service against a real SQLite file (the end-to-end tests go through the sandbox)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.errors import UserError
from services.events import DropEvents
from storage.engine import Database
from storage.migrate import upgrade
from tests.databases import database_url

SOON = datetime.now(UTC) + timedelta(days=3)
VETERAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))


@pytest.fixture
async def service(tmp_path: Path):
    database = Database(database_url(tmp_path / "drops.db"))
    await upgrade(database)
    yield DropService(database, DropEvents())
    await database.dispose()


async def test_places_are_distinct_under_concurrent_joins(service: DropService) -> None:
    drop = await service.create(1, 99, DropSpec("Night Moth Tee", SOON, "UTC", 50))
    results = await asyncio.gather(
        *(service.join(1, drop.id, user, f"fan{user}", VETERAN) for user in range(40))
    )
    places = sorted(joined.place for joined in results)
    assert places == list(range(1, 41))
    _, export = await service.export(1, drop.id)
    assert [row.place for row in export] == list(range(1, 41))


async def test_leaving_moves_everyone_behind_up(service: DropService) -> None:
    drop = await service.create(1, 99, DropSpec("Moth", SOON, "UTC", 5))
    for user in (1, 2, 3):
        await service.join(1, drop.id, user, f"fan{user}", VETERAN)
    await service.leave(1, drop.id, 1)
    place = await service.join(1, drop.id, 3, "fan3", VETERAN)
    assert (place.place, place.total, place.already) == (2, 2, True)


async def test_open_drop_names_are_unique_case_insensitively(service: DropService) -> None:
    await service.create(1, 99, DropSpec("Night Moth", SOON, "UTC", 5))
    with pytest.raises(UserError, match="already has an open drop"):
        await service.create(1, 99, DropSpec("night  MOTH", SOON, "UTC", 5))
    # Another server may use the same name.
    await service.create(2, 99, DropSpec("Night Moth", SOON, "UTC", 5))
    assert len(await service.drops(1)) == 1


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (DropSpec("", SOON, "UTC", 5), "needs a name"),
        (DropSpec("x" * 81, SOON, "UTC", 5), "81 characters"),
        (DropSpec("ok", SOON, "UTC", 0), "between 1 and"),
        (DropSpec("ok", SOON, "UTC", 1_000_001), "between 1 and"),
        (DropSpec("ok", datetime.now(UTC) - timedelta(minutes=1), "UTC", 5), "in the past"),
        (DropSpec("ok", SOON, "UTC", 5, allocation="lottery"), "not an allocation"),
    ],
)
async def test_refused_specs_store_nothing(
    service: DropService, spec: DropSpec, fragment: str
) -> None:
    with pytest.raises(UserError, match=fragment):
        await service.create(1, 99, spec)
    assert await service.drops(1) == []


async def test_requirements_refuse_with_when(service: DropService) -> None:
    drop = await service.create(1, 99, DropSpec("Old", SOON, "UTC", 5, min_member_days=30))
    newcomer = Member(frozenset(), VETERAN.account_created_at, datetime.now(UTC))
    with pytest.raises(UserError, match="30 days in this server; you'll qualify on <t:"):
        await service.join(1, drop.id, 5, "new", newcomer)
    assert await service.waitlist_count(drop.id) == 0


async def test_one_batch_mixes_new_repeat_and_refused_joins(service: DropService) -> None:
    open_drop = await service.create(1, 99, DropSpec("Open", SOON, "UTC", 5))
    strict = await service.create(1, 99, DropSpec("Strict", SOON, "UTC", 5, min_member_days=9))
    await service.join(1, open_drop.id, 7, "early", VETERAN)
    newcomer = Member(frozenset(), VETERAN.account_created_at, datetime.now(UTC))
    results = await asyncio.gather(
        service.join(1, open_drop.id, 8, "a", VETERAN),
        service.join(1, open_drop.id, 8, "a again", VETERAN),
        service.join(1, open_drop.id, 7, "early again", VETERAN),
        service.join(1, strict.id, 9, "new", newcomer),
        service.join(2, open_drop.id, 10, "other server", VETERAN),
        return_exceptions=True,
    )
    first, repeat, early, refused, foreign = results
    assert not isinstance(first, BaseException) and not isinstance(repeat, BaseException)
    assert (first.place, first.already) == (2, False)
    assert (repeat.place, repeat.already) == (2, True)
    assert not isinstance(early, BaseException)
    assert (early.place, early.total, early.already) == (1, 2, True)
    assert isinstance(refused, UserError) and "9 days in this server" in refused.sentence
    assert isinstance(foreign, UserError) and "can't find that drop" in foreign.sentence
    assert await service.waitlist_count(open_drop.id) == 2
    assert await service.waitlist_count(strict.id) == 0
