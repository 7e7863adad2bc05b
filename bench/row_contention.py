"""The limit a claim storm meets on PostgreSQL: the drop row, locked by every claim.

Each claim transaction locks its drop's row (``SELECT ... FOR UPDATE``), takes a unit with
``UPDATE drops SET remaining = remaining - 1 WHERE id = ? AND remaining > 0`` and commits: one
drop's claims therefore run one at a time, however many processes send them. This measures
that statement pair alone (no bot, no Discord): transactions per second with W connections on
ONE row, against W connections on W rows (the same work spread over W drops, as shards spread
servers). ``python -m bench.row_contention`` runs on the server ``DROPBELL_TEST_DATABASE`` names
(an admin URL), else on a throwaway one (``.ci/postgres``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.database import postgres_admin, scratch_databases

SECONDS = 3.0
WORKERS = (1, 4, 16)
ROWS = 64


async def rate(engine: AsyncEngine, workers: int, spread: bool) -> float:
    done = 0
    stop = time.monotonic() + SECONDS

    async def work(index: int) -> None:
        nonlocal done
        row = index % ROWS + 1 if spread else 1
        async with engine.connect() as connection:
            while time.monotonic() < stop:
                async with connection.begin():
                    await connection.execute(
                        text("SELECT remaining FROM bench_drops WHERE id = :id FOR UPDATE"),
                        {"id": row},
                    )
                    await connection.execute(
                        text(
                            "UPDATE bench_drops SET remaining = remaining - 1 "
                            "WHERE id = :id AND remaining > 0"
                        ),
                        {"id": row},
                    )
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(work(i) for i in range(workers)))
    return done / (time.monotonic() - started)


async def measure(url: str) -> list[str]:
    """Lines of figures, on a scratch table in the database at ``url`` (asyncpg URL)."""
    engine = create_async_engine(url, pool_size=max(WORKERS) + 1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE IF EXISTS bench_drops"))
            await connection.execute(
                text("CREATE TABLE bench_drops (id integer PRIMARY KEY, remaining integer)")
            )
            await connection.execute(
                text("INSERT INTO bench_drops SELECT g, 1000000000 FROM generate_series(1, :n) g"),
                {"n": ROWS},
            )
        lines = []
        for workers in WORKERS:
            one = await rate(engine, workers, spread=False)
            many = await rate(engine, workers, spread=True)
            lines.append(
                f"  {workers:>2} connections: one drop row {one:7.0f} tx/s, "
                f"{workers} drop rows {many:7.0f} tx/s"
            )
        return lines
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0]).parse_args(argv)

    async def go() -> None:
        async with postgres_admin() as admin, scratch_databases(admin) as fresh_database:
            print("row contention: lock + conditional decrement of a drop row, committed")
            for line in await measure(await fresh_database()):
                print(line)

    asyncio.run(go())


if __name__ == "__main__":
    main()
