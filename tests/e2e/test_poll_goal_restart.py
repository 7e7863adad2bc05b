"""The goal announcement across a real ``kill -9``: the bot is killed after the commit that
reached the goal (its post written as a scheduled send in that very transaction) and before the
post went out; the next process posts it exactly once, and commitments after that post nothing.

The kill lands in that window for sure: the channel's send budget (one post a minute here) is
spent when the goal is reached, so the bot holds the claimed post while it waits for the
bucket to reset, and is killed there.
"""

from __future__ import annotations

from pathlib import Path

from sandbox import Sandbox
from sandbox.server import CHANNEL_SEND_ROUTE
from tests.databases import query
from tests.e2e.poll_support import commit, create_poll, poll_id_of, poll_options
from tests.harness import BotProcess, Community, wait_for


def goal_posts(sandbox: Sandbox, channel_id: int) -> list[str]:
    return [m.content for m in sandbox.messages(channel_id) if m.content.startswith("🎯")]


def goal_state(database_path: Path, poll_id: int) -> list[tuple[object, ...]]:
    return query(
        database_path,
        "SELECT s.state FROM scheduled_sends s WHERE s.kind = 'poll_goal' AND s.channel_id = "
        "(SELECT channel_id FROM polls WHERE id = :poll)",
        poll=poll_id,
    )


async def test_kill_9_between_the_goal_and_its_post_then_one_post(
    sandbox: Sandbox, community: Community, database_path: Path, tmp_path: Path
) -> None:
    process = BotProcess(sandbox, database_path, community.guild.id, tmp_path / "bot.log")
    async with process.running(sandbox):
        post = await create_poll(sandbox, community)  # goal: 10 units
        poll_id = poll_id_of(post)
        await commit(sandbox, community.fans[0], post, 0, 5)
        # One post a minute in the channel, spent on a second poll's post: the goal's post
        # then waits out the bucket (discord.py waits for its reset, or the sandbox answers 429).
        sandbox.rate_limit(CHANNEL_SEND_ROUTE, 1, 60.0)
        await sandbox.slash(
            community.manager,
            "poll create",
            poll_options(channel=community.drops, question="And which colour?"),
            timeout=15,
        )
        await wait_for(
            lambda: len(sandbox.messages(community.drops.id)) == 2, 15, "the second poll's post"
        )
        await commit(sandbox, community.fans[1], post, 1, 5)  # 10 units: the goal
        await wait_for(
            lambda: goal_state(database_path, poll_id) == [("sending",)],
            10,
            "the goal's post claimed and waiting",
        )
        process.kill()  # SIGKILL: the goal is reached and recorded, its post not made
        assert goal_posts(sandbox, community.drops.id) == []

        sandbox.rate_limit(CHANNEL_SEND_ROUTE, 5, 5.0)  # Discord's usual bucket again
        identifies = sandbox.stats["identifies"]
        process.start()
        await wait_for(lambda: sandbox.stats["identifies"] > identifies, 20, "the bot to reconnect")
        await wait_for(
            lambda: len(goal_posts(sandbox, community.drops.id)) == 1, 20, "the goal post"
        )
        await wait_for(
            lambda: goal_state(database_path, poll_id) == [("sent",)], 10, "the post recorded"
        )
        # More commitments after the goal: the tally grows, no second goal post.
        for fan in community.fans[2:4]:
            await commit(sandbox, fan, post, 2, 3)
        await wait_for(
            lambda: "16" in str(sandbox.world.messages_by_id[post.id].embeds),
            15,
            "the tally to show 16 units",
        )
        assert await process.terminate() == 0, process.output()
    posts = goal_posts(sandbox, community.drops.id)
    assert len(posts) == 1, posts
    assert "reached its goal: 10 units committed (goal 10)" in posts[0]
    assert goal_state(database_path, poll_id) == [("sent",)]
