"""A bare discord.py bot: the floors every benchmark is compared with.

It answers ``/ping`` (the command floor) and its own persistent button (the button floor: a
``DynamicItem`` pressed on a message shaped like dropbell's announcement, so discord.py parses
the same message and rebuilds the same kind of view as for a Join click).

With ``--database PATH`` it also answers ``floor:join:{id}`` presses the way a join must be
answered, with none of dropbell's code: the press waits for a group commit (plain ``sqlite3``,
WAL, on a writer thread, every press waiting then in one ``BEGIN IMMEDIATE`` transaction) that
puts the fan at the end of the line or finds them on it, and is answered with the place
(the SQLite floor: what a join costs beyond a button at all).

Run in its own process: ``python -m bench.ping_bot --api-base URL --gateway URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import discord
from discord import app_commands

from bot.endpoints import loopback_connector, point_discord_at


class FloorButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"floor:(?P<action>\w+):(?P<id>\d+)"
):
    """A persistent button whose state is in its custom_id, answered with one ephemeral reply."""

    def __init__(self, action: str, item_id: int) -> None:
        super().__init__(discord.ui.Button(label=action, custom_id=f"floor:{action}:{item_id}"))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FloorButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.item.custom_id is not None and self.item.custom_id.startswith("floor:join:"):
            line = interaction.client.line  # type: ignore[attr-defined]
            place, total = await line.join(interaction.user.id)
            await interaction.response.send_message(f"#{place} of {total:,}", ephemeral=True)
            return
        await interaction.response.send_message("pressed", ephemeral=True)


class Line:
    """A waitlist with group commit and nothing else: the SQLite floor of a join."""

    MAX_BATCH = 500

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS line (user_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS size (id INTEGER PRIMARY KEY, n INTEGER)")
        self.db.execute("INSERT OR IGNORE INTO size VALUES (1, 0)")
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floor-sqlite")
        self.pending: list[tuple[int, asyncio.Future[tuple[int, int]]]] = []
        self.worker: asyncio.Task[None] | None = None

    async def join(self, user_id: int) -> tuple[int, int]:
        """(place, line length), once the transaction holding the fan has committed."""
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self.pending.append((user_id, future))
        if self.worker is None:
            self.worker = asyncio.create_task(self.drain())
        return await future

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch = self.pending[: self.MAX_BATCH]
                self.pending = self.pending[self.MAX_BATCH :]
                users = [user_id for user_id, _ in batch]
                try:
                    places, total = await loop.run_in_executor(self.thread, self.write, users)
                except Exception as error:
                    for _, future in batch:
                        future.set_exception(error)
                    continue
                for (_, future), place in zip(batch, places, strict=True):
                    if not future.done():
                        future.set_result((place, total))
        finally:
            self.worker = None

    def write(self, users: list[int]) -> tuple[list[int], int]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            (total,) = db.execute("SELECT n FROM size WHERE id = 1").fetchone()
            marks = ",".join("?" * len(users))
            known = dict(
                db.execute(f"SELECT user_id, seq FROM line WHERE user_id IN ({marks})", users)
            )
            new = []
            for user_id in users:
                if user_id not in known:
                    total += 1
                    known[user_id] = total
                    new.append((user_id, total))
            db.executemany("INSERT INTO line VALUES (?, ?)", new)
            db.execute("UPDATE size SET n = ? WHERE id = 1", (total,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [known[user_id] for user_id in users], total


class PingBot(discord.Client):
    def __init__(self, database: str | None = None) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            connector=loopback_connector(),
        )
        self.tree = app_commands.CommandTree(self)
        self.line = Line(database) if database else None

        @self.tree.command(name="ping", description="Answers pong")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

    async def setup_hook(self) -> None:
        self.add_dynamic_items(FloorButton)
        await self.tree.sync()


async def run(api_base: str, gateway: str, token: str, database: str | None = None) -> None:
    point_discord_at(api_base, gateway)
    async with PingBot(database) as bot:
        await bot.start(token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--database", help="SQLite file for the join floor (floor:join:…)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.api_base, args.gateway, args.token, args.database))


if __name__ == "__main__":
    main()
