"""Helpers for the poll tests: create a poll through /poll create, press options and numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox import Message, Sandbox
from sandbox.models import Member
from sandbox.results import InteractionResult
from tests.harness import Community

OPTIONS = "Moth Tee @ 35; Moth Hoodie @ 60.50; Moth Cap"


def berlin_in(delta: timedelta) -> str:
    """A Berlin wall-clock time ``delta`` from now (tests run in any zone)."""
    from zoneinfo import ZoneInfo

    return (
        (datetime.now(UTC) + delta).astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")
    )


def poll_options(**extra: Any) -> dict[str, Any]:
    return {
        "question": "Which winter piece should we make?",
        "options": OPTIONS,
        "goal": 10,
        "closes_at": berlin_in(timedelta(days=2)),
        "timezone": "Europe/Berlin",
        **extra,
    }


async def create_poll(sb: Sandbox, community: Community, **extra: Any) -> Message:
    """``/poll create`` by the manager into #drops; returns the poll post."""
    result = await sb.slash(
        community.manager, "poll create", poll_options(channel=community.drops, **extra)
    )
    final = await result.wait_followup()
    assert "is up in" in final.content, final.content
    return sb.messages(community.drops.id)[-1]


def poll_id_of(post: Message) -> int:
    first = next(cid for cid in post.custom_ids() if cid.startswith("dropbell:poll:"))
    return int(first.split(":")[2])


async def commit(
    sb: Sandbox, fan: Member, post: Message, option: int, quantity: int
) -> InteractionResult:
    """Press the option on the post, then the number on the ephemeral panel."""
    poll_id = poll_id_of(post)
    panel = await sb.click(fan, post, f"dropbell:poll:{poll_id}:{option}")
    assert panel.ephemeral and panel.message is not None, panel
    return await sb.click(fan, panel.message, f"dropbell:commit:{poll_id}:{option}:{quantity}")


def field_values(post: Message) -> dict[str, str]:
    return {field["name"]: field["value"] for field in post.embeds[0]["fields"]}


async def close_soon(bot: Any, poll_id: int, seconds: float = 0.5) -> None:
    """Move the poll's closing send to ``seconds`` from now (tests compress time): the row is
    the schedule, so the row is what moves; the job cache follows it."""
    from services.localtime import utcnow
    from storage.tables import scheduled_sends

    poll = await bot.services.polls.get_any(poll_id)
    async with bot.database.write() as connection:
        await connection.execute(
            scheduled_sends.update()
            .where(scheduled_sends.c.id == poll.close_send_id)
            .values(due_at=utcnow() + timedelta(seconds=seconds))
        )
    row = await bot.services.schedule.sends.get(poll.close_send_id)
    bot.services.schedule.jobs.schedule(row)


def results_posts(sb: Sandbox, channel_id: int) -> list[Message]:
    return [m for m in sb.messages(channel_id) if m.content.startswith("📊")]


def disabled(post: Message) -> bool:
    buttons = [c for row in post.components for c in row.get("components", [])]
    return bool(buttons) and all(button.get("disabled") for button in buttons)
