"""Many concurrent claims on several database connections never oversell.

``storage.claims.write_claim_batch`` runs from several threads at once, each on its own
connection to one real database: a SQLite file (WAL, ``BEGIN IMMEDIATE``: the writer connection
the bot uses, ``storage.engine._SQLiteWriter``), or on the PostgreSQL leg a database shared by
several engines (each thread its own, as several bot processes would be), with random stock,
a random number of ready links (sometimes fewer than the units), random fans pressing (with
repeats) and random batch splits.
Whatever the interleaving: claims never exceed stock, remaining never goes below 0 and is
stock minus claims, one claim per fan, one fan per link, every answer the fan got is their
claim on disk, and nobody who could have been served was turned away.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select

from services.drops.allocation import decide_claim
from services.drops.rules import DropSpec, Member
from services.drops.service import DropService
from services.events import DropEvents
from storage.claims import (
    Claimed,
    ClaimRequest,
    FanStanding,
    NoLinkReady,
    SoldOut,
    write_claim_batch,
)
from storage.drops import Drop
from storage.engine import Database, _SQLiteWriter
from storage.link_pool import LinkPoolStore
from storage.migrate import upgrade
from storage.states import DropStatus
from storage.tables import claim_links
from tests.databases import copy_database, database_url, drop_database, on_postgresql, query

GUILD = 1
FAN = Member(frozenset(), datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
HOLD = timedelta(minutes=15)
RUNS = itertools.count()
T = TypeVar("T")


@dataclass(frozen=True)
class Storm:
    stock: int
    links: int
    presses: list[int]  # fan ids, in the order they press (repeats: pressing again)
    cuts: list[int]  # where the presses are cut into batches
    threads: int


@st.composite
def storms(draw: st.DrawFn) -> Storm:
    stock = draw(st.integers(0, 12))
    # Usually a link per unit and some spare; sometimes fewer links than units.
    links = draw(st.integers(0, stock + 4))
    fans = draw(st.integers(1, 24))
    presses = draw(st.lists(st.integers(0, fans - 1), min_size=1, max_size=60))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(presses) - 1)), max_size=12)))
    return Storm(stock, links, presses, cuts, draw(st.integers(2, 4)))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the current schema, copied for each run (migrating is slow)."""
    path = tmp_path_factory.mktemp("schema") / "empty.db"

    async def migrate() -> None:
        database = Database(database_url(path))
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(migrate())
    return path


async def selling_drop(
    path: Path, stock: int, links: int, name: str = "Moth"
) -> tuple[int, datetime, list[str]]:
    """A live drop selling ``stock`` units with ``links`` ready links: its id, a moment when
    anyone may claim, and the links' URLs."""
    database = Database(database_url(path))
    try:
        service = DropService(database, DropEvents())
        starts = datetime.now(UTC) + timedelta(minutes=5)
        # Created with stock 1 (a drop needs some), then given the storm's stock below.
        drop = await service.create(
            GUILD, 9, DropSpec(name, starts, "UTC", 1, product="sandbox:price_moth")
        )
        live = await service.store.move_status(
            drop.id, DropStatus.SCHEDULED, DropStatus.LIVE, starts
        )
        assert live is not None
        pool = LinkPoolStore(database)
        urls = []
        for pending in await pool.reserve(drop.id, "sandbox", links, starts):
            url = f"https://shop.example/pay/{pending.id}"
            await pool.ready(pending.id, f"cs_{pending.id}", url, None)
            urls.append(url)
    finally:
        await database.dispose()
    query(path, "UPDATE drops SET stock = :n, remaining = :n WHERE id = :id", n=stock, id=drop.id)
    return drop.id, starts + timedelta(minutes=1), urls


def batches_of(presses: list[int], cuts: list[int]) -> list[list[int]]:
    bounds = [0, *(cut for cut in cuts if cut < len(presses)), len(presses)]
    return [presses[a:b] for a, b in itertools.pairwise(bounds) if b > a]


class _PostgreSQLWriter:
    """What ``_SQLiteWriter`` is to a thread, on PostgreSQL: the thread's own engine (its own
    connections, as another bot process has), driven by the thread's own event loop."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.database = Database(url)

    def run(self, work: Callable[[Connection], T]) -> T:
        return self.loop.run_until_complete(self.database.run_write(work))

    def close(self) -> None:
        self.loop.run_until_complete(self.database.dispose())
        self.loop.close()


def storm_on(schema: Path, path: Path, storm: Storm) -> None:
    copy_database(schema, path)
    try:
        _storm(path, storm)
    finally:
        drop_database(path)


def _storm(path: Path, storm: Storm) -> None:
    drop_id, now, urls = asyncio.run(selling_drop(path, storm.stock, storm.links))
    decide = decide_claim(lambda _request: False)  # nobody holds a tier
    batches = batches_of(storm.presses, storm.cuts)
    # Batch i goes to thread i % threads; each thread has its own connection (engine).
    url = database_url(path)
    kind = _PostgreSQLWriter if on_postgresql() else _SQLiteWriter
    writers = [kind(url) for _ in range(storm.threads)]
    start = threading.Barrier(storm.threads)
    answers: list[tuple[int, Claimed | BaseException]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def press_batches(index: int) -> None:
        try:
            start.wait()
            for batch in batches[index :: storm.threads]:
                requests = [ClaimRequest(GUILD, drop_id, fan, f"fan {fan}", FAN) for fan in batch]
                outcomes = writers[index].run(
                    partial(write_claim_batch, requests, decide, HOLD, now)
                )
                with lock:
                    answers.extend(zip(batch, outcomes, strict=True))
        except BaseException as error:  # surfaced below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=press_batches, args=(i,)) for i in range(storm.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for writer in writers:
        writer.close()
    assert not failures, failures
    assert len(answers) == len(storm.presses)
    check(path, drop_id, storm, urls, answers)


def check(
    path: Path,
    drop_id: int,
    storm: Storm,
    urls: list[str],
    answers: list[tuple[int, Claimed | BaseException]],
) -> None:
    ((remaining,),) = query(path, "SELECT remaining FROM drops WHERE id = :id", id=drop_id)
    rows = query(
        path,
        "SELECT c.id, c.user_id, c.link_id, c.state, l.url FROM claims c "
        "JOIN claim_links l ON l.id = c.link_id WHERE c.drop_id = :id",
        id=drop_id,
    )
    states = query(path, "SELECT state FROM claim_links WHERE drop_id = :id", id=drop_id)
    taken = Counter(state for (state,) in states)
    held = [row for row in rows if row[3] in ("held", "paid")]
    assert len(held) == len(rows)  # nothing paid or expired here: every claim is held
    assert len(held) <= storm.stock, "oversold"
    assert remaining >= 0
    assert remaining == storm.stock - len(rows), (remaining, storm.stock, len(rows))
    assert len({user for _, user, _, _, _ in rows}) == len(rows), "a fan with two claims"
    assert len({link for _, _, link, _, _ in rows}) == len(rows), "a link handed out twice"
    assert {url for *_, url in rows} <= set(urls)
    assert taken["taken"] == len(rows), "a link taken without its claim (or the reverse)"
    # Each answer is what the database holds: the fan's one claim, whichever press it was.
    on_disk = {user: (claim_id, url) for claim_id, user, _, _, url in rows}
    fresh: Counter[int] = Counter()
    for fan, outcome in answers:
        if isinstance(outcome, Claimed):
            assert on_disk[fan] == (outcome.claim.id, outcome.claim.url)
            assert outcome.drop.remaining >= 0
            if not outcome.already:
                fresh[fan] += 1
        else:
            assert isinstance(outcome, SoldOut | NoLinkReady), outcome
            # Refused once, refused always here (no hold ends): a refused fan holds no claim.
            assert fan not in on_disk, (fan, outcome)
    assert fresh == Counter(set(on_disk)), "a new claim answered twice, or a claim never answered"
    # Nobody was turned away who could have been served.
    assert len(rows) == min(storm.stock, storm.links, len(set(storm.presses)))


@settings(max_examples=60, deadline=None)
@given(storms())
def test_concurrent_claims_never_oversell(
    tmp_path_factory: pytest.TempPathFactory, migrated: Path, storm: Storm
) -> None:
    folder = tmp_path_factory.mktemp("claims")
    storm_on(migrated, folder / f"run{next(RUNS)}.db", storm)


def test_more_links_than_units_and_many_fans_sell_exactly_the_stock(
    migrated: Path, tmp_path: Path
) -> None:
    """The plain case at a larger size: 4 connections, 400 fans (each twice) for 60 units."""
    presses = [fan for fan in range(400) for _ in range(2)]
    storm = Storm(stock=60, links=80, presses=presses, cuts=list(range(7, 800, 7)), threads=4)
    storm_on(migrated, tmp_path / "big.db", storm)


@pytest.mark.skipif(not on_postgresql(), reason="about PostgreSQL's row locks: PostgreSQL leg")
async def test_a_claim_takes_the_next_link_while_another_transaction_holds_the_first(
    tmp_path: Path,
) -> None:
    """Another process mid-way through something on the oldest ready link (its row locked):
    the claim skips it (SKIP LOCKED) and takes the next, neither waiting nor turning the fan
    away."""
    path = tmp_path / "skip.db"
    async with Database(database_url(path)) as database:
        await upgrade(database)
    drop_id, now, _ = await selling_drop(path, stock=2, links=2)
    request = ClaimRequest(GUILD, drop_id, 7, "fan 7", FAN)
    nobody_is_a_collector = decide_claim(lambda _request: False)
    claim = partial(write_claim_batch, [request], nobody_is_a_collector, HOLD, now)
    oldest = (
        select(claim_links.c.id)
        .where(claim_links.c.drop_id == drop_id)
        .order_by(claim_links.c.id)
        .limit(1)
        .with_for_update()
    )
    holder, claimer = Database(database_url(path)), Database(database_url(path))
    async with holder, claimer, holder.write() as connection:
        locked = (await connection.execute(oldest)).scalar_one()
        [outcome] = await asyncio.wait_for(claimer.run_write(claim), 10)
    assert isinstance(outcome, Claimed), outcome
    assert outcome.claim.link_id != locked


@pytest.mark.skipif(not on_postgresql(), reason="about PostgreSQL's row locks: PostgreSQL leg")
def test_two_processes_claiming_the_same_two_drops_in_crossed_orders_never_deadlock(
    tmp_path: Path,
) -> None:
    """Two processes' batches name drops A and B in opposite orders, and each is made to wait
    after its first drop until the other reached its own: locking drop rows in batch order would
    deadlock (PostgreSQL aborts one batch, failing every fan in it). Both batches succeed."""
    path = tmp_path / "crossed.db"

    async def two_drops() -> list[int]:
        async with Database(database_url(path)) as database:
            await upgrade(database)
        return [(await selling_drop(path, 2, 2, name))[0] for name in ("Moth", "Lark")]

    first, second = asyncio.run(two_drops())
    now = datetime.now(UTC) + timedelta(minutes=6)
    crossing = threading.Barrier(2, timeout=3)
    allowed = decide_claim(lambda _request: False)

    def decide(
        drop: Drop | None, request: ClaimRequest, standing: FanStanding, at: datetime
    ) -> BaseException | None:
        if request.user_id in (1, 3):  # each batch's first claim: meet the other batch there
            with contextlib.suppress(threading.BrokenBarrierError):
                crossing.wait()
        return allowed(drop, request, standing, at)

    batches = [
        [ClaimRequest(GUILD, first, 1, "fan 1", FAN), ClaimRequest(GUILD, second, 2, "fan 2", FAN)],
        [ClaimRequest(GUILD, second, 3, "fan 3", FAN), ClaimRequest(GUILD, first, 4, "fan 4", FAN)],
    ]
    writers = [_PostgreSQLWriter(database_url(path)) for _ in batches]
    results: list[object] = [None, None]

    def press(index: int) -> None:
        try:
            results[index] = writers[index].run(
                partial(write_claim_batch, batches[index], decide, HOLD, now)
            )
        except BaseException as error:  # the deadlock's victim, surfaced below
            results[index] = error

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for writer in writers:
        writer.close()
    for outcome in results:
        assert isinstance(outcome, list), outcome
        assert all(isinstance(claimed, Claimed) for claimed in outcome), outcome
