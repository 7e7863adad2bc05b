"""The benchmarks on either database: what ``./dev bench run`` runs in which order, and the
generated /insights history and the benchmarks' row reads on the test database (SQLite, or
PostgreSQL on the PostgreSQL leg)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import database
from bench.insights_history import FAN_BASE, generate, migrate
from bench.join_phases import fill_line
from bench.run import BENCHMARKS, DATABASE_BENCHMARKS, plan
from tests.databases import database_url, query


def test_run_does_every_benchmark_on_sqlite_then_the_database_ones_on_postgresql() -> None:
    runs = plan(BENCHMARKS, None)
    assert runs[: len(BENCHMARKS)] == [
        (name, database.SQLITE if name in DATABASE_BENCHMARKS else None) for name in BENCHMARKS
    ]
    assert runs[len(BENCHMARKS) :] == [(name, database.POSTGRESQL) for name in DATABASE_BENCHMARKS]
    assert plan(["join_burst"], None) == [("join_burst", "sqlite"), ("join_burst", "postgresql")]
    assert plan(["join_burst", "about_burst"], "postgresql") == [("join_burst", "postgresql")]
    assert plan(["about_burst", "join_burst"], "sqlite") == [
        ("about_burst", None),
        ("join_burst", "sqlite"),
    ]


@pytest.mark.parametrize(
    ("names", "kind", "message"),
    [
        (["joins"], None, "no benchmark 'joins'; there are: floor, join_burst,"),
        (["about_burst"], "postgresql", "none of about_burst uses the database, so none runs"),
    ],
)
def test_run_refuses_what_it_cannot_run_in_one_sentence(
    names: list[str], kind: str | None, message: str
) -> None:
    with pytest.raises(SystemExit, match=message):
        plan(names, kind)


async def test_the_generated_history_links_each_claim_to_its_own_link(tmp_path: Path) -> None:
    url = database_url(tmp_path / "history.db")
    try:
        await check_history(url, tmp_path / "history.db")
    finally:
        await database.forget(url)


async def check_history(url: str, path: Path) -> None:
    await migrate(url)
    history = await generate(url, 77, drops=4, fans=600, entries=400, purchases=40)
    assert (history.entries, history.claims, history.purchases) == (400, 60, 40)
    # Each claim holds a link of its own, of its own drop, whatever ids the links were given.
    ((claims, links, same_drop, paid, seqs),) = query(
        path,
        "SELECT count(*), count(DISTINCT c.link_id), "
        "sum(CASE WHEN l.drop_id = c.drop_id THEN 1 ELSE 0 END), "
        "sum(CASE WHEN c.state = 'paid' THEN 1 ELSE 0 END), "
        "(SELECT count(DISTINCT seq) FROM waitlist_entries) "
        "FROM claims c JOIN claim_links l ON l.id = c.link_id",
    )
    assert (claims, links, same_drop, paid, seqs) == (60, 60, 60, 40, 100)
    latest = await database.rows(
        url,
        "SELECT name, starts_at FROM drops WHERE guild_id = :guild ORDER BY starts_at DESC",
        guild=77,
    )
    assert latest[0][0] == history.latest_drop
    fans = await database.rows(url, "SELECT min(user_id) FROM waitlist_entries")
    assert fans[0][0] >= FAN_BASE


async def test_a_prefilled_line_ends_where_the_burst_begins(tmp_path: Path) -> None:
    url = database_url(tmp_path / "line.db")
    try:
        await check_line(url, tmp_path / "line.db")
    finally:
        await database.forget(url)


async def check_line(url: str, path: Path) -> None:
    await migrate(url)
    await generate(url, 77, drops=1, fans=10, entries=5, purchases=1)
    await database.execute(url, ("UPDATE drops SET name = 'Bench Tee'", {}))
    # The generated line (5 fans) is replaced by a prefilled one of 30.
    await database.execute(url, ("DELETE FROM claims", {}), ("DELETE FROM waitlist_entries", {}))
    await fill_line(url, 30)
    rows = query(
        path,
        "SELECT d.waitlist_size, d.waitlist_seq, count(e.id), max(e.seq) "
        "FROM drops d JOIN waitlist_entries e ON e.drop_id = d.id GROUP BY d.id",
    )
    assert rows == [(30, 30, 30, 30)]
