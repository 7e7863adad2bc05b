"""A poll's closing across a real ``kill -9``: dropbell as a child process, closed exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sandbox import Sandbox
from services.localtime import utcnow
from tests.databases import query, stored_time
from tests.e2e.poll_support import commit, create_poll, disabled, poll_id_of, results_posts
from tests.harness import BotProcess, Community, wait_for


def close_states(database_path: Path) -> dict[int, str]:
    rows = query(
        database_path,
        "SELECT p.id, s.state FROM polls p JOIN scheduled_sends s ON s.id = p.close_send_id",
    )
    return {int(poll_id): str(state) for poll_id, state in rows}


async def test_kill_9_then_the_closing_happens_once(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    sandbox.relax("channel_send_limit", reason="three polls and their results in one channel")
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    async with process.running(sandbox):
        posts = [await create_poll(sandbox, community, question=f"Poll {i}?") for i in range(4)]
        ids = [poll_id_of(post) for post in posts]
        await commit(sandbox, community.fans[0], posts[0], 0, 3)
        await commit(sandbox, community.fans[1], posts[1], 1, 2)
        process.kill()  # SIGKILL: no clean-up of any kind

        past = stored_time(utcnow() - timedelta(seconds=1))
        # Poll 0's closing time passed while the bot was down.
        query(
            database_path,
            "UPDATE scheduled_sends SET due_at = :past WHERE id = "
            "(SELECT close_send_id FROM polls WHERE id = :poll)",
            past=past,
            poll=ids[0],
        )
        # Poll 1 was killed mid-closing: its row claimed and the poll closed, nothing posted.
        query(
            database_path,
            "UPDATE scheduled_sends SET due_at = :past, state = 'sending', attempts = 1 "
            "WHERE id = (SELECT close_send_id FROM polls WHERE id = :poll)",
            past=past,
            poll=ids[1],
        )
        query(database_path, "UPDATE polls SET status = 'closed' WHERE id = :poll", poll=ids[1])
        # Poll 3 was killed after its closing was recorded, before its post was edited.
        query(
            database_path,
            "UPDATE scheduled_sends SET state = 'sent' WHERE id = "
            "(SELECT close_send_id FROM polls WHERE id = :poll)",
            poll=ids[3],
        )
        query(
            database_path,
            "UPDATE polls SET status = 'closed', closed_at = :past WHERE id = :poll",
            past=past,
            poll=ids[3],
        )

        identifies = sandbox.stats["identifies"]
        process.start()
        await wait_for(lambda: sandbox.stats["identifies"] > identifies, 20, "the bot to reconnect")
        await wait_for(
            lambda: len(results_posts(sandbox, community.drops.id)) == 2, 15, "both results"
        )
        await wait_for(
            lambda: (
                close_states(database_path)
                == {
                    ids[0]: "sent",
                    ids[1]: "sent",
                    ids[2]: "pending",
                    ids[3]: "sent",
                }
            ),
            10,
            "both closings recorded as sent",
        )
        await wait_for(
            lambda: all(disabled(sandbox.world.messages_by_id[posts[i].id]) for i in (0, 1, 3)),
            10,
            "the closed polls' buttons disabled",
        )
        assert not disabled(sandbox.world.messages_by_id[posts[2].id])
        # A graceful restart afterwards posts nothing again.
        assert await process.terminate() == 0, process.output()
        identifies = sandbox.stats["identifies"]
        process.start()
        await wait_for(lambda: sandbox.stats["identifies"] > identifies, 20, "the bot again")
        about = await sandbox.slash(community.fans[0], "dropbell about", timeout=10)
        assert "dropbell" in about.content
        assert await process.terminate() == 0, process.output()
    texts = [post.content for post in results_posts(sandbox, community.drops.id)]
    assert Counter(text.split("**")[1] for text in texts) == Counter({"Poll 0?": 1, "Poll 1?": 1})
    assert "3 units from 1 fan" in texts[0] or "3 units from 1 fan" in texts[1]
