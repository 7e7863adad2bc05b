"""Reminder DMs end to end: only to fans who opted in, closed DMs not retried, the Stop button
in the DM, and every reminder arriving under Discord's rate limits (the real bot, the sandbox,
real time)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.bot import Dropbell
from sandbox import Sandbox
from services.localtime import utcnow
from storage.tables import reminder_deliveries
from tests.e2e.test_schedule import local_minutes_ahead, rows, start_compressed
from tests.harness import Community, InProcessBot, wait_for


async def _opt_in(sandbox: Sandbox, community: Community, bot: Dropbell, fans: list[Any]) -> int:
    """A drop announced with /drop create (minutes ahead), the given fans press Remind me."""
    created = await sandbox.slash(
        community.manager,
        "drop create",
        {
            "name": "Moth Hoodie",
            "starts_at": local_minutes_ahead(30),
            "timezone": "UTC",
            "stock": 50,
            "channel": community.drops,
        },
    )
    await created.wait_followup()
    drop = (await bot.services.drops.drops(community.guild.id))[0]
    assert drop.message_id is not None
    for fan in fans:
        pressed = await sandbox.click(fan, drop.message_id, f"dropbell:remind:{drop.id}")
        assert "Reminders are **on**" in pressed.content
    reminders = bot.services.schedule.reminders

    async def channels_opened() -> bool:
        # Remind me opens the fan's DM channel in the background, at the opener's slow pace.
        unreachable = await reminders.unreachable()
        known = [await reminders.dm_channel(fan.id) for fan in fans if fan.id not in unreachable]
        return all(channel is not None for channel in known)

    await wait_for(channels_opened, 5 + 2 * len(fans), "the fans' DM channels to be opened")
    return drop.id


async def _open_in(bot: Dropbell, community: Community, drop_id: int, seconds: float) -> None:
    """Move the drop's opening to ``seconds`` from now, as /drop edit does (to the second)."""
    await bot.services.drops.update(
        community.guild.id, drop_id, starts_at=utcnow() + timedelta(seconds=seconds)
    )


async def delivery_states(bot: Dropbell) -> list[tuple[int, str]]:
    async with bot.database.read() as connection:
        found = await connection.execute(
            select(reminder_deliveries.c.user_id, reminder_deliveries.c.state)
        )
        return [(row.user_id, row.state) for row in found.all()]


async def test_reminders_only_to_opted_in_and_closed_dms_not_retried(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await start_compressed(bot_runner, countdowns=[], reminders=[1, 0])
    closed = community.fans[2]
    sandbox.close_dms(closed.id)
    drop_id = await _opt_in(sandbox, community, bot, community.fans[:3])
    await _open_in(bot, community, drop_id, 2.0)

    opted = community.fans[:2]
    await wait_for(lambda: all(len(sandbox.dms(fan.id)) == 2 for fan in opted), 8, "two DMs each")

    async def both_fanned_out() -> bool:
        return len(await rows(bot, kind="reminder", state="sent")) == 2 and all(
            state in ("sent", "unreachable", "skipped") for _, state in await delivery_states(bot)
        )

    await wait_for(both_fanned_out, 5, "both reminder rounds settled")
    for fan in opted:
        dms = sandbox.dms(fan.id)
        assert len(dms) == 2
        assert "opens <t:" in dms[0].content and "is open now" in dms[1].content
        assert f"dropbell:remindoff:{drop_id}" in dms[0].custom_ids()
    for fan in community.fans[2:]:
        assert sandbox.dms(fan.id) == []
    states = await delivery_states(bot)
    # The closed-DM fan was tried once (first reminder), recorded, and skipped at opening.
    assert sorted(state for user, state in states if user == closed.id) == ["unreachable"]
    assert await bot.services.schedule.reminders.unreachable() == {closed.id}
    closed_attempts = [r for r in sandbox.requests if r[2] == 403]
    assert len(closed_attempts) == 1


async def test_stop_reminders_button_in_dm(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await start_compressed(bot_runner, countdowns=[], reminders=[2, 0])
    fan = community.fans[0]
    drop_id = await _opt_in(sandbox, community, bot, [fan])
    await _open_in(bot, community, drop_id, 2.6)
    await wait_for(lambda: len(sandbox.dms(fan.id)) == 1, 4, "the first reminder")
    first = sandbox.dms(fan.id)[0]
    stopped = await sandbox.click(fan, first, f"dropbell:remindoff:{drop_id}")
    assert "are off" in stopped.content and stopped.ephemeral

    async def opening_round_done() -> bool:
        return len(await rows(bot, kind="reminder", state="sent")) == 2

    # The opening's round fans out to nobody: the fan's opt-in is gone.
    await wait_for(opening_round_done, 5, "the opening reminder round")
    assert len(sandbox.dms(fan.id)) == 1
    assert [state for _, state in await delivery_states(bot)] == ["sent"]


async def test_rate_limited_reminders_all_arrive(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    fans = [sandbox.create_member(community.guild.id, f"moth{i}") for i in range(24)]
    # The sandbox allows 10 requests/s in all; the queue is told 40/s so it meets 429s (even
    # on a slow machine) and must honour them (discord.py waits out retry_after), losing none.
    sandbox.relax(
        "dm_open_pacing", reason="about the global limit; DM-open pacing: test_discord_rules"
    )
    bot = await start_compressed(
        bot_runner, countdowns=[], reminders=[0.5], dm_per_second=40, dm_opens_per_second=10
    )
    drop_id = await _opt_in(sandbox, community, bot, fans)
    sandbox.global_rate_limit(10)
    await _open_in(bot, community, drop_id, 1.0)
    await wait_for(lambda: all(sandbox.dms(fan.id) for fan in fans), 15, "every reminder")

    async def all_sent() -> bool:
        states = await delivery_states(bot)
        return len(states) == len(fans) and {state for _, state in states} == {"sent"}

    await wait_for(all_sent, 5, "every delivery recorded")
    assert all(len(sandbox.dms(fan.id)) == 1 for fan in fans)
    assert sandbox.stats["429"] > 0


# --- restarts ---------------------------------------------------------------------------------
