"""A crash while a drop is made from a poll: ``kill -9`` of the real bot process after the
drop's row and the poll's "made into this drop" were written, while the committed fans were
being put on its waitlist. Nothing may be half done: the poll stays free (no drop, no post),
and after a restart "Create drop from this poll" makes the drop with the whole line.

PostgreSQL only: the test holds a lock on the waitlist table so the bot stops exactly at the
pre-fill, which only a database that locks tables (not the whole file) allows; a SQLite write
is all-or-nothing in one go, so it has no such moment to kill in.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.databases import database_url, on_postgresql, query
from tests.e2e.poll_support import berlin_in, commit, create_poll, poll_id_of
from tests.e2e.test_poll_to_drop import inputs_by_label
from tests.harness import BotProcess, Community, wait_for

pytestmark = pytest.mark.skipif(
    not on_postgresql(), reason="needs table locks to stop the bot mid-transaction (PostgreSQL)"
)
OPENS = "Opens at (YYYY-MM-DD HH:MM, 24 h)"


async def test_kill_9_during_the_prefill_leaves_the_poll_free_then_it_works(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    import asyncpg  # the PostgreSQL leg's driver

    sandbox.relax("channel_send_limit", reason="poll, results and drop in one channel")
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    async with process.running(sandbox):
        post = await create_poll(sandbox, community)
        poll_id = poll_id_of(post)
        f0, f1, f2 = community.fans[:3]
        for fan, option in ((f1, 0), (f2, 1), (f0, 1)):
            await commit(sandbox, fan, post, option, 1)
        closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
        offer = await closing.wait_followup()
        posts_before = len(sandbox.messages(community.drops.id))

        holder = await asyncpg.connect(database_url(database_path).replace("+asyncpg", ""))
        try:
            transaction = holder.transaction()
            await transaction.start()
            await holder.execute("LOCK TABLE waitlist_entries IN EXCLUSIVE MODE")
            shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
            assert shown.modal is not None
            fields = inputs_by_label(shown.modal)
            await sandbox.submit_modal(
                community.manager, shown, {fields[OPENS]: berlin_in(timedelta(days=5))}
            )

            async def bot_waits_on_the_lock() -> bool:
                waiting = await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                return bool(waiting)

            await wait_for(bot_waits_on_the_lock, 15, "the bot to reach the pre-fill")
            process.kill()  # SIGKILL mid-transaction
            await transaction.rollback()
        finally:
            await holder.close()

        # Nothing half done: no drop, the poll free, no announcement.
        await wait_for(
            lambda: query(database_path, "SELECT count(*) FROM drops") == [(0,)],
            10,
            "the killed transaction to be gone",
        )
        assert query(database_path, "SELECT drop_id FROM polls WHERE id = :p", p=poll_id) == [
            (None,)
        ]
        assert len(sandbox.messages(community.drops.id)) == posts_before

        identifies = sandbox.stats["identifies"]
        process.start()
        await wait_for(lambda: sandbox.stats["identifies"] > identifies, 20, "the bot to reconnect")
        shown = await sandbox.click(
            community.manager, offer, f"dropbell:polldrop:{poll_id}", timeout=10
        )
        assert shown.modal is not None
        fields = inputs_by_label(shown.modal)
        submitted = await sandbox.submit_modal(
            community.manager, shown, {fields[OPENS]: berlin_in(timedelta(days=5))}
        )
        done = await submitted.wait_followup(timeout=10)
        assert "starts with the 3 fans who committed" in done.content, done.content
        for fan, place in ((f1, 1), (f2, 2), (f0, 3)):
            status = await sandbox.slash(fan, "waitlist status")
            assert f"**Moth Hoodie**: #{place} of 3" in status.content, status.content
        assert await process.terminate() == 0, process.output()
