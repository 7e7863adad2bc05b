"""Scheduled-event rules and command-sync limits, through a bare discord.py bot's HTTP client."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import discord
import pytest

from sandbox.models import utcnow

from .conftest import World


def external_event(**overrides: Any) -> dict[str, Any]:
    start = utcnow() + dt.timedelta(days=1)
    payload = {
        "name": "Night Moth drop",
        "privacy_level": 2,
        "entity_type": 3,
        "entity_metadata": {"location": "Online shop"},
        "scheduled_start_time": start.isoformat(),
        "scheduled_end_time": (start + dt.timedelta(hours=1)).isoformat(),
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


PAST = (utcnow() - dt.timedelta(minutes=5)).isoformat()
INVALID_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("no name", external_event(name=None), "In name: This field is required"),
    ("public", external_event(privacy_level=1), "In privacy_level"),
    ("no entity_type", external_event(entity_type=None), "In entity_type: This field is required"),
    ("no location", external_event(entity_metadata={}), "In entity_metadata.location"),
    ("no end", external_event(scheduled_end_time=None), "In scheduled_end_time"),
    ("in the past", external_event(scheduled_start_time=PAST), "Cannot schedule event in the past"),
    ("voice without channel", external_event(entity_type=2, entity_metadata=None), "In channel_id"),
]


@pytest.mark.parametrize(
    ("case", "payload", "expected"), INVALID_EVENTS, ids=[c[0] for c in INVALID_EVENTS]
)
async def test_scheduled_event_fields_are_checked(
    world: World, case: str, payload: dict[str, Any], expected: str
) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await world.bot.http.create_guild_scheduled_event(world.seed.guild.id, **payload)
    assert caught.value.status == 400 and caught.value.code == 50035
    assert expected in caught.value.text
    assert world.sb.scheduled_events(world.seed.guild.id) == []


async def test_external_event_starts_and_completes_by_itself_then_is_frozen(world: World) -> None:
    sb, bot, guild_id = world.sb, world.bot, world.seed.guild.id
    start = utcnow() + dt.timedelta(seconds=0.4)
    payload = external_event(
        scheduled_start_time=start.isoformat(),
        scheduled_end_time=(start + dt.timedelta(seconds=0.5)).isoformat(),
    )
    created = await bot.http.create_guild_scheduled_event(guild_id, **payload)
    event_id = int(created["id"])
    assert created["status"] == 1

    def status() -> int:
        guild = bot.get_guild(guild_id)
        event = guild.get_scheduled_event(event_id) if guild else None
        return event.status.value if event else 0

    seen: list[int] = []
    for _ in range(60):
        now = status()  # 0 until GUILD_SCHEDULED_EVENT_CREATE reached the bot
        if now and (not seen or seen[-1] != now):
            seen.append(now)
        if now == 3:
            break
        await asyncio.sleep(0.05)
    assert seen == [1, 2, 3]  # the bot saw each change as a GUILD_SCHEDULED_EVENT_UPDATE
    with pytest.raises(discord.HTTPException) as caught:
        await bot.http.edit_scheduled_event(guild_id, event_id, name="Encore")
    assert caught.value.status == 400 and caught.value.code == 180000
    assert sb.scheduled_events(guild_id)[0]["name"] == "Night Moth drop"


async def test_canceled_event_cannot_be_edited(world: World) -> None:
    bot, guild_id = world.bot, world.seed.guild.id
    created = await bot.http.create_guild_scheduled_event(guild_id, **external_event())
    await bot.http.edit_scheduled_event(guild_id, created["id"], status=4)
    with pytest.raises(discord.HTTPException, match="180000"):
        await bot.http.edit_scheduled_event(guild_id, created["id"], description="back on")


def command(**overrides: Any) -> dict[str, Any]:
    cmd: dict[str, Any] = {"name": "drop", "description": "A drop", "type": 1, "options": []}
    cmd.update(overrides)
    return cmd


def option(type_: int = 3, **overrides: Any) -> dict[str, Any]:
    return {"name": "pick", "description": "Pick one", "type": type_, **overrides}


def choices(n: int, value: Any = "v") -> list[dict[str, Any]]:
    return [{"name": f"c{i}", "value": value if value != "v" else f"v{i}"} for i in range(n)]


INVALID_COMMANDS: list[tuple[str, dict[str, Any], str]] = [
    ("uppercase name", command(name="Drop"), "In 0.name"),
    ("long name", command(name="d" * 33), "In 0.name"),
    ("empty description", command(description=""), "In 0.description"),
    ("long description", command(description="d" * 101), "In 0.description"),
    ("26 options", command(options=[option(name=f"o{i}") for i in range(26)]),
     "In 0.options: Must be 25 or fewer"),
    ("26 choices", command(options=[option(choices=choices(26))]), "In 0.options.0.choices"),
    ("long choice name", command(options=[option(choices=[{"name": "n" * 101, "value": "v"}])]),
     "In 0.options.0.choices.0.name"),
    ("long string value", command(options=[option(choices=[{"name": "n", "value": "v" * 101}])]),
     "In 0.options.0.choices.0.value"),
    ("string value on integer", command(options=[option(4, choices=choices(1))]),
     "In 0.options.0.choices.0.value"),
    ("autocomplete on boolean", command(options=[option(5, autocomplete=True)]),
     "In 0.options.0.autocomplete"),
    ("autocomplete with choices", command(options=[option(autocomplete=True, choices=choices(2))]),
     "cannot be set together with choices"),
    ("min_length on integer", command(options=[option(4, min_length=1)]),
     "In 0.options.0.min_length"),
    ("max_length 6001", command(options=[option(max_length=6001)]), "In 0.options.0.max_length"),
    ("required after optional",
     command(options=[option(name="a"), option(name="b", required=True)]),
     "Required options must be placed before"),
    ("over 4000 characters", command(options=[
        option(name=f"o{i}", description="d" * 100, choices=[
            {"name": "n" * 100, "value": f"{i}-{j}" + "v" * 90} for j in range(10)])
        for i in range(2)]), "Command exceeds maximum size (4000)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "cmd", "expected"), INVALID_COMMANDS, ids=[c[0] for c in INVALID_COMMANDS]
)
async def test_command_sync_limits(
    world: World, case: str, cmd: dict[str, Any], expected: str
) -> None:
    sb, bot = world.sb, world.bot
    before = sb.commands()
    with pytest.raises(discord.HTTPException) as caught:
        await bot.http.bulk_upsert_global_commands(sb.application_id, [cmd])
    assert caught.value.status == 400 and caught.value.code == 50035
    assert expected in caught.value.text
    assert sb.commands() == before  # nothing half-synced


async def test_command_at_the_limits_syncs(world: World) -> None:
    sb, bot = world.sb, world.bot
    opts = [option(name="req", required=True, min_length=0, max_length=6000, autocomplete=True),
            option(4, name="num", choices=[{"name": "n" * 100, "value": 2**53}]),
            option(10, name="ratio", choices=[{"name": "half", "value": 0.5}])]  # fmt: skip
    opts += [option(5, name=f"flag{i}") for i in range(22)]
    synced = await bot.http.bulk_upsert_global_commands(
        sb.application_id, [command(name="d" * 32, description="d" * 100, options=opts)]
    )
    first: dict[str, Any] = dict(synced[0])
    assert first["name"] == "d" * 32 and len(first["options"]) == 25
