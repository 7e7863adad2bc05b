"""Shutdown lets the handlers that are running finish: a fan mid-click is answered and kept.

(Joins have their own drain; this is about any handler, here Remind me.)"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from sandbox import Sandbox
from storage.tables import reminder_optins
from tests.harness import Community, InProcessBot, create_drop, drop_id_of, wait_for


async def test_close_waits_for_a_click_in_flight(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start()
    post = await create_drop(sandbox, community)
    fan = community.fans[0]
    # Hold the database's write lock so the click is stuck mid-handler when the close starts
    # (PostgreSQL has no such lock: the table the click writes to is locked instead).
    async with bot.database.write() as connection:
        if bot.database.dialect == "postgresql":
            await connection.exec_driver_sql("LOCK TABLE reminder_optins IN EXCLUSIVE MODE")
        remind = f"dropbell:remind:{drop_id_of(post)}"
        click = asyncio.create_task(sandbox.click(fan, post, remind))
        await wait_for(lambda: bot.in_flight.count == 1, 5, "the handler to start")
        closing = asyncio.create_task(bot_runner.stop())
        done, _ = await asyncio.wait({closing}, timeout=0.3)
        assert not done, "close did not wait for the running handler"
    answer = await click
    await closing
    assert answer.ephemeral and "Reminders are **on**" in answer.content
    database = bot.database.__class__(bot.database.url)
    async with database, database.read() as connection:
        assert await connection.scalar(select(func.count()).select_from(reminder_optins)) == 1
