"""Pre-order polls end to end: the real bot, a real SQLite file, through the sandbox."""

from __future__ import annotations

import asyncio
import time

from sandbox import InteractionResult, Message, Sandbox
from tests.e2e.poll_support import commit, create_poll, field_values, poll_id_of
from tests.harness import Community, wait_for


async def test_commit_change_withdraw(sandbox: Sandbox, community: Community, bot) -> None:
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    assert post.embeds[0]["title"] == "Which winter piece should we make?"
    assert set(post.custom_ids()) == {f"dropbell:poll:{poll_id}:{i}" for i in range(3)}
    fan = community.fans[0]

    panel = await sandbox.click(fan, post, f"dropbell:poll:{poll_id}:1")
    assert panel.ephemeral
    assert "**Moth Hoodie** at 60.50 EUR" in panel.content
    assert panel.message is not None
    ids = list(panel.message.custom_ids())
    assert ids == [f"dropbell:commit:{poll_id}:1:{q}" for q in range(1, 6)] + [
        f"dropbell:withdraw:{poll_id}:1"
    ]

    sandbox.reset_request_counts()
    done = await sandbox.click(fan, panel.message, f"dropbell:commit:{poll_id}:1:3")
    assert done.response_type == 7  # UPDATE_MESSAGE of the fan's own panel
    assert done.content.startswith("Committed: **3 × Moth Hoodie**")
    assert "Your commitments in this poll: 3 × Moth Hoodie." in done.content
    await wait_for(lambda: bot.in_flight.count == 0, 5, "the press to finish")
    calls = {
        route: n
        for route, n in sandbox.request_counts().items()
        if route != "PATCH /channels/{channel_id}/messages/{message_id}"
    }
    assert list(calls.values()) == [1] and next(iter(calls)).endswith("/callback")

    changed = await sandbox.click(fan, panel.message, f"dropbell:commit:{poll_id}:1:5")
    assert changed.content.startswith("Changed: **5 × Moth Hoodie** (was 3)")
    other = await commit(sandbox, fan, post, 0, 2)
    assert "Your commitments in this poll: 2 × Moth Tee, 5 × Moth Hoodie." in other.content

    assert other.message is not None
    gone = await sandbox.click(fan, other.message, f"dropbell:withdraw:{poll_id}:0")
    assert gone.content.startswith("You withdrew your 2 × **Moth Tee**.")
    assert "Your commitments in this poll: 5 × Moth Hoodie." in gone.content
    # A fresh panel shows the same, and the fan's current quantity highlighted.
    again = await sandbox.click(fan, post, f"dropbell:poll:{poll_id}:1")
    assert "You have 5 now" in again.content
    assert "Your commitments in this poll: 5 × Moth Hoodie." in again.content
    assert again.message is not None
    styles = {
        c["custom_id"]: c["style"] for row in again.message.components for c in row["components"]
    }
    assert styles[f"dropbell:commit:{poll_id}:1:5"] == 3  # success: the current one
    assert styles[f"dropbell:commit:{poll_id}:1:4"] == 2
    await commit(sandbox, fan, post, 0, 4)
    fresh = await sandbox.click(fan, post, f"dropbell:poll:{poll_id}:2")
    assert "Your commitments in this poll: 4 × Moth Tee, 5 × Moth Hoodie." in fresh.content

    def tally_shown() -> bool:
        fields = field_values(sandbox.messages(community.drops.id)[-1])
        return fields["Moth Hoodie · 60.50 EUR"].startswith("5 units") and fields[
            "Moth Tee · 35.00 EUR"
        ].startswith("4 units")

    await wait_for(tally_shown, 10, "the post to show the tally")


async def test_concurrent_commits_counted_exactly_and_goal_once(
    sandbox: Sandbox, community: Community, bot
) -> None:
    sandbox.relax("channel_send_limit", reason="not what is tested")
    post = await create_poll(sandbox, community, goal=100)
    poll_id = poll_id_of(post)
    fans = [sandbox.create_member(community.guild.id, f"rush{i}") for i in range(500)]
    # The panels open in waves (a bot and its sandbox share this loop here: 500 at once would
    # pass Discord's 3 seconds on a loaded machine, not on a real bot).
    gate = asyncio.Semaphore(32)

    async def open_panel(i: int) -> Message:
        async with gate:
            panel = await sandbox.click(fans[i], post, f"dropbell:poll:{poll_id}:{i % 3}")
        assert panel.message is not None
        return panel.message

    panels = await asyncio.gather(*(open_panel(i) for i in range(500)))
    # Then the numbers, 100 in flight: batches of many fans at once, within Discord's 3 s
    # even on a shared 2-core machine running the whole suite.
    burst = asyncio.Semaphore(100)

    async def press(i: int) -> InteractionResult:
        async with burst:
            return await sandbox.click(
                fans[i], panels[i], f"dropbell:commit:{poll_id}:{i % 3}:{1 + i % 5}"
            )

    edits_before, started = sandbox.world.messages_by_id[post.id].edits, time.monotonic()
    answers = await asyncio.gather(*(press(i) for i in range(500)))
    assert all(a.content.startswith("Committed:") for a in answers)
    expected = [sum(1 + i % 5 for i in range(500) if i % 3 == option) for option in range(3)]
    options = await bot.services.polls.options(poll_id_of(post))
    assert [option.units for option in options] == expected
    assert [option.fans for option in options] == [167, 167, 166]

    def goal_posts() -> list[str]:
        return [
            m.content
            for m in sandbox.messages(community.drops.id)
            if "reached its goal" in m.content
        ]

    await wait_for(lambda: goal_posts(), 5, "the goal announcement")
    await asyncio.sleep(0.5)
    assert len(goal_posts()) == 1

    # The post shows the exact tally, reached by a few coalesced edits, not one per commit.
    def shown() -> dict[str, str]:
        return field_values(sandbox.world.messages_by_id[post.id])

    final = {
        "Moth Tee · 35.00 EUR": f"{expected[0]:,} units",
        "Moth Hoodie · 60.50 EUR": f"{expected[1]:,} units",
        "Moth Cap": f"{expected[2]:,} units",
        "Total": f"{sum(expected):,} of 100 units",
    }
    await wait_for(
        lambda: all(shown()[name].startswith(value) for name, value in final.items()),
        10,
        "the post to show the final tally",
    )
    elapsed = time.monotonic() - started
    edits = sandbox.world.messages_by_id[post.id].edits - edits_before
    # Presses only mark the post; one loop edits it at most every 3 s while it is under an
    # hour old (cogs/_post_refresher.py): the first edit, then one per 3 s that passed.
    assert 1 <= edits <= 1 + elapsed / 3.0, (edits, elapsed)
    assert edits <= 500 // 25, edits


async def test_the_goal_post_pings_nobody(sandbox: Sandbox, community: Community, bot) -> None:
    role = sandbox.create_role(community.guild.id, "Drop pings", mentionable=True)
    post = await create_poll(sandbox, community, question=f"A tee for <@&{role.id}>?", goal=1)
    await commit(sandbox, community.fans[0], post, 0, 1)

    def goal_post() -> Message | None:
        found = [m for m in sandbox.messages(community.drops.id) if "reached its goal" in m.content]
        return found[0] if found else None

    await wait_for(goal_post, 5, "the goal post")
    found = goal_post()
    assert found is not None and found.mention_roles == []
    assert found.content.startswith(f"🎯 The pre-order poll **A tee for <@&{role.id}>?** reached")
