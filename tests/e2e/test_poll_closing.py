"""Closing a poll: on schedule and by /poll close, once; a late press; the manager's offer."""

from __future__ import annotations

from pathlib import Path

from sandbox import Sandbox
from tests.databases import query
from tests.e2e.poll_support import (
    close_soon,
    commit,
    create_poll,
    disabled,
    field_values,
    poll_id_of,
    results_posts,
)
from tests.harness import Community, wait_for


async def test_closes_on_schedule_once_and_refuses_a_late_press(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    fan, late = community.fans[0], community.fans[1]
    await commit(sandbox, fan, post, 0, 4)
    early_panel = await sandbox.click(late, post, f"dropbell:poll:{poll_id}:1")
    assert early_panel.message is not None
    # The post shows the commitment first, so the closing's own edit is what disables it.
    refresher = bot.get_cog("PollPosts").refresher

    def shows_commitment() -> bool:
        fields = field_values(sandbox.world.messages_by_id[post.id])
        return fields["Moth Tee · 35.00 EUR"].startswith("4 units") and refresher.idle

    await wait_for(shows_commitment, 10, "the post to show the commitment")
    await close_soon(bot, poll_id)
    await wait_for(lambda: results_posts(sandbox, community.drops.id), 10, "the results post")
    [results] = results_posts(sandbox, community.drops.id)
    assert "**Which winter piece should we make?** — closed. 4 of 10 units committed" in (
        results.content
    )
    assert "**Moth Tee**: 4 units from 1 fan · 140.00 EUR" in results.content
    assert f"dropbell:polldrop:{poll_id}" in results.custom_ids()
    poll = await bot.services.polls.get_any(poll_id)
    assert not poll.is_open

    def post_disabled() -> bool:
        return disabled(sandbox.world.messages_by_id[post.id])

    await wait_for(post_disabled, 10, "the poll's buttons to be disabled")
    # A number pressed on a panel opened before the closing: told, ephemerally, nothing stored.
    answer = await sandbox.click(late, early_panel.message, f"dropbell:commit:{poll_id}:1:2")
    assert answer.ephemeral
    assert answer.content.startswith("The poll **Which winter piece should we make?** closed <t:")
    assert await bot.services.polls.store.fan_commitments(poll_id, late.id) == {}
    # Closing again by command is refused with the same sentence; still one results post.
    again = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    assert "closed <t:" in again.content
    assert len(results_posts(sandbox, community.drops.id)) == 1


async def test_close_by_command_offers_the_drop(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    await commit(sandbox, community.fans[0], post, 2, 1)
    # Fans may not close a poll.
    refused = await sandbox.slash(community.fans[0], "poll close", {"poll": str(poll_id)})
    assert refused.content.startswith("Only managers can do that")
    answer = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    final = await answer.wait_followup()
    assert final.ephemeral
    assert "is closed and its results are posted in" in final.content
    assert list(final.custom_ids()) == [f"dropbell:polldrop:{poll_id}"]
    [results] = results_posts(sandbox, community.drops.id)
    assert "**Moth Cap**: 1 unit from 1 fan" in results.content
    # The scheduled closing that comes later finds its row sent: nothing more is posted.
    row = await bot.services.schedule.sends.get(
        (await bot.services.polls.get_any(poll_id)).close_send_id
    )
    assert row.state == "sent" and row.message_id == results.id
    # A fan pressing the managers' button is told so, and nothing opens.
    fan_press = await sandbox.click(community.fans[0], results, f"dropbell:polldrop:{poll_id}")
    assert fan_press.content.startswith("Only managers can do that")


async def test_close_while_another_process_holds_the_closing_says_so_and_then_it_closes(
    sandbox: Sandbox, community: Community, bot, database_path: Path
) -> None:
    """Another process (on PostgreSQL, its schedule or its own /poll close) has claimed the
    closing send and not yet closed the poll: the manager is told it is closing, not that it
    failed; when that process finishes, the poll closes once."""
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    poll = await bot.services.polls.get_any(poll_id)
    # The claim another process takes: the row moves to 'sending' (storage.schedule's claim).
    query(database_path, "UPDATE scheduled_sends SET state = 'sending' WHERE id = :id",
          id=poll.close_send_id)  # fmt: skip
    answer = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    told = await answer.wait_followup()
    assert told.ephemeral
    assert told.content == (
        "**Which winter piece should we make?** is being closed right now; its results will be "
        "posted in a moment."
    )
    assert results_posts(sandbox, community.drops.id) == []
    assert (await bot.services.polls.get_any(poll_id)).is_open
