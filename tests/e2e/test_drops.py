"""Drops and waitlists end to end: real bot, real SQLite file, injected through the sandbox."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sandbox import Sandbox
from sandbox.models import BOT_DEFAULT, MANAGE_EVENTS, SandboxError
from tests.databases import query
from tests.harness import (
    BERLIN_SOON,
    Community,
    InProcessBot,
    create_drop,
    drop_id_of,
    drop_options,
    wait_for,
)


def count_rows(database_path: Path, table: str) -> int:
    ((count,),) = query(database_path, f"SELECT count(*) FROM {table}")
    return int(count)


async def test_create_announces_with_everything_a_fan_needs(
    sandbox: Sandbox, community: Community, bot
) -> None:
    ping = sandbox.create_role(community.guild.id, "Drop pings", mentionable=True)
    image = sandbox.attachment("moth.png", b"\x89PNG fake", content_type="image/png")
    post = await create_drop(
        sandbox,
        community,
        description="Hand-printed in Leipzig.",
        image=image,
        ping_role=ping,
        allocation="raffle",
    )
    embed = post.embeds[0]
    assert embed["title"] == "Night Moth Tee"
    assert embed["description"] == "Hand-printed in Leipzig."
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    starts = datetime.strptime(BERLIN_SOON, "%Y-%m-%d %H:%M")
    assert fields["Opens"].startswith("<t:") and ":F>" in fields["Opens"]
    assert ":R>" in fields["Opens"]
    assert fields["Stock"] == "100"
    assert fields["Waitlist"] == "0 waiting"
    assert "raffle" in fields["How links are given"]
    # The post carries its own copy of the image (option attachments expire).
    assert embed["image"]["url"] == "attachment://drop.png"
    assert [(f.filename, f.data) for f in post.attachments] == [("drop.png", b"\x89PNG fake")]
    assert post.mention_roles == [ping.id]
    assert set(post.custom_ids()) == {
        f"dropbell:join:{drop_id_of(post)}",
        f"dropbell:remind:{drop_id_of(post)}",
    }
    # The server event, as the sandbox received it: the drop's exact opening instant (18:00
    # Berlin time, whatever the offset that day) and an hour after it, as an external event.
    drop = await bot.services.drops.get_any(drop_id_of(post))
    assert drop is not None
    assert drop.starts_at == starts.replace(tzinfo=ZoneInfo("Europe/Berlin"))
    [event] = sandbox.scheduled_events(community.guild.id)
    assert int(event["id"]) == drop.event_id
    assert event["name"] == "Night Moth Tee"
    assert datetime.fromisoformat(event["scheduled_start_time"]) == drop.starts_at
    assert datetime.fromisoformat(event["scheduled_end_time"]) == drop.starts_at + timedelta(
        hours=1
    )
    assert event["entity_type"] == 3  # EXTERNAL: a place outside Discord's voice channels
    assert event["entity_metadata"] == {
        "location": "Discord: press Join waitlist on the announcement"
    }
    assert event["description"] == "Hand-printed in Leipzig."


async def test_join_button_and_command_agree_and_places_move(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    drop_id = drop_id_of(post)
    first, second, third = community.fans[:3]

    answer = await sandbox.click(first, post, f"dropbell:join:{drop_id}")
    assert answer.ephemeral
    assert answer.content.startswith("You're #1 of 1 for **Night Moth Tee** — opens <t:")
    answer = await sandbox.slash(second, "waitlist join", {"drop": str(drop_id)})
    assert answer.content.startswith("You're #2 of 2 ")
    answer = await sandbox.slash(third, "waitlist join", {"drop": "night moth tee"})
    assert answer.content.startswith("You're #3 of 3 ")
    again = await sandbox.click(third, post, f"dropbell:join:{drop_id}")
    assert again.content.startswith("You're already on the list: #3 of 3 ")

    left = await sandbox.slash(first, "waitlist leave", {"drop": str(drop_id)})
    assert left.ephemeral and "left the waitlist" in left.content
    status = await sandbox.slash(third, "waitlist status")
    assert "**Night Moth Tee**: #2 of 2" in status.content

    # The count on the post follows by a coalesced edit, not one edit per join.
    def shows_two() -> bool:
        latest = sandbox.messages(community.drops.id)[-1]
        return any(f["value"] == "2 waiting" for f in latest.embeds[0]["fields"])

    await wait_for(shows_two, timeout=8, what="the announcement to show 2 waiting")
    edits = sandbox.request_counts()["PATCH /channels/{channel_id}/messages/{message_id}"]
    assert 1 <= edits < 4


async def test_simultaneous_joins_get_different_places(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    fans = [sandbox.create_member(community.guild.id, f"rush{i}") for i in range(30)]
    answers = await asyncio.gather(
        *(sandbox.click(fan, post, f"dropbell:join:{drop_id_of(post)}") for fan in fans)
    )
    places = sorted(int(a.content.split("#")[1].split(" ")[0]) for a in answers)
    assert places == list(range(1, 31))


async def test_join_costs_one_rest_call(sandbox: Sandbox, community: Community, bot) -> None:
    post = await create_drop(sandbox, community)
    # Announcing edits nothing afterwards: the refresher knows what the post shows.
    refresher = bot.get_cog("DropCommands").refresher
    await wait_for(lambda: bot.in_flight.count == 0 and refresher.idle, 5, "create to settle")
    edit = "PATCH /channels/{channel_id}/messages/{message_id}"
    assert sandbox.request_counts()[edit] == 0
    sandbox.reset_request_counts()
    await sandbox.click(community.fans[0], post, f"dropbell:join:{drop_id_of(post)}")
    # The answer can come before the handler ends; once it has ended it makes no more calls.
    await wait_for(lambda: bot.in_flight.count == 0, 5, "the join handler to finish")
    # Off the hot path, the refresher may edit the post's count; nothing else is called.
    counts = {route: n for route, n in sandbox.request_counts().items() if route != edit}
    [(route, count)] = counts.items()
    assert route.endswith("/callback") and count == 1


async def test_remind_me_toggles(sandbox: Sandbox, community: Community, bot) -> None:
    post = await create_drop(sandbox, community)
    remind = f"dropbell:remind:{drop_id_of(post)}"
    on = await sandbox.click(community.fans[0], post, remind)
    assert on.ephemeral and "Reminders are **on**" in on.content
    off = await sandbox.click(community.fans[0], post, remind)
    assert "Reminders are **off**" in off.content


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"starts_at": "2020-01-01 10:00"}, "is in the past"),
        ({"starts_at": "next friday"}, "YYYY-MM-DD HH:MM"),
        ({"timezone": "Mars/Olympus"}, "not a time zone I know"),
        ({"starts_at": "2030-03-31 02:30"}, "does not exist"),
        ({"starts_at": "2030-10-27 02:30"}, "happens twice"),
        ({"name": "   "}, "needs a name"),
    ],
)
async def test_bad_create_is_refused_and_stores_nothing(
    sandbox: Sandbox,
    community: Community,
    bot,
    database_path: Path,
    options: dict[str, Any],
    sentence: str,
) -> None:
    before = len(sandbox.messages(community.drops.id))
    # /drop create defers first, so the refusal is the deferred answer.
    answer = await (
        await sandbox.slash(
            community.manager, "drop create", {**drop_options(channel=community.drops), **options}
        )
    ).wait_final()
    assert answer.ephemeral
    assert sentence in answer.content
    assert answer.content.count(".") <= 3  # one sentence, not a traceback
    assert count_rows(database_path, "drops") == 0
    assert len(sandbox.messages(community.drops.id)) == before


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"stock": 0}, "outside [1, 1000000]"),
        ({"stock": 1_000_001}, "outside [1, 1000000]"),
        ({"name": "x" * 81}, "longer than 80"),
        ({"description": "x" * 4001}, "longer than 4000"),
        ({"product": "x" * 201}, "longer than 200"),
        ({"min_member_days": -1}, "outside [0, 3650]"),
    ],
)
async def test_out_of_range_options_never_leave_the_client(
    sandbox: Sandbox, community: Community, bot, options: dict[str, Any], refusal: str
) -> None:
    """The bounds are in the command schema, so Discord's client refuses such input; the
    sandbox does the same (the service still refuses them: tests/unit/test_drops_service)."""
    with pytest.raises(SandboxError, match=re.escape(refusal)):
        await sandbox.slash(
            community.manager, "drop create", {**drop_options(channel=community.drops), **options}
        )


async def test_duplicate_open_name_refused(
    sandbox: Sandbox, community: Community, bot, database_path: Path
) -> None:
    await create_drop(sandbox, community)
    answer = await (
        await sandbox.slash(
            community.manager,
            "drop create",
            drop_options("NIGHT MOTH TEE", channel=community.drops),
        )
    ).wait_final()
    # The refusal names the existing drop as it is spelled, not as typed.
    assert "already has an open drop called **Night Moth Tee**" in answer.content
    assert count_rows(database_path, "drops") == 1


async def test_non_manager_is_refused_even_when_invoking_directly(
    sandbox: Sandbox, community: Community, bot, database_path: Path
) -> None:
    fan = community.fans[0]
    answer = await sandbox.slash(fan, "drop create", drop_options(channel=community.drops))
    assert answer.ephemeral and "Only managers can do that" in answer.content
    assert count_rows(database_path, "drops") == 0
    await create_drop(sandbox, community)
    export = await sandbox.slash(fan, "drop export", {"drop": "Night Moth Tee"})
    assert "Only managers can do that" in export.content and not export.attachments


async def test_manager_role_from_setup_grants_management(
    sandbox: Sandbox, community: Community, bot
) -> None:
    helpers = sandbox.create_role(community.guild.id, "Drop crew")
    crew = sandbox.create_member(community.guild.id, "crew", roles=[helpers.id])
    refused = await sandbox.slash(crew, "drop list")
    assert "Only managers" in refused.content
    setup = await sandbox.slash(
        community.manager,
        "dropbell setup",
        {"announce_channel": community.drops, "manager_role": helpers},
    )
    assert "Saved" in setup.content
    # With an announce channel set, the channel option can be left out.
    created = await sandbox.slash(crew, "drop create", drop_options("Crew Drop"))
    assert "is announced in" in (await created.wait_followup()).content
    listed = await sandbox.slash(crew, "drop list")
    assert "**Crew Drop** · scheduled" in listed.content


async def test_requirements_refuse_with_which_and_when(
    sandbox: Sandbox, community: Community, bot
) -> None:
    vip = sandbox.create_role(community.guild.id, "VIP")
    post = await create_drop(
        sandbox, community, required_role=vip, min_account_age_days=30, min_member_days=7
    )
    join = f"dropbell:join:{drop_id_of(post)}"
    no_role = await sandbox.click(community.fans[0], post, join)
    assert "open to members with" in no_role.content and "you don't have it" in no_role.content

    now = datetime.now(UTC)
    young = sandbox.create_member(
        community.guild.id, "young", roles=[vip.id], account_created_at=now - timedelta(days=2)
    )
    answer = await sandbox.click(young, post, join)
    assert "at least 30 days old" in answer.content and "<t:" in answer.content

    newcomer = sandbox.create_member(
        community.guild.id, "newcomer", roles=[vip.id], joined_at=now - timedelta(days=1)
    )
    answer = await sandbox.click(newcomer, post, join)
    assert "7 days in this server" in answer.content

    veteran = sandbox.create_member(
        community.guild.id, "veteran", roles=[vip.id], joined_at=now - timedelta(days=30)
    )
    assert (await sandbox.click(veteran, post, join)).content.startswith("You're #1 of 1")


async def test_edit_and_cancel_update_the_post_and_event(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    await sandbox.click(community.fans[0], post, f"dropbell:join:{drop_id_of(post)}")
    edited = await sandbox.slash(
        community.manager,
        "drop edit",
        {"drop": "Night Moth Tee", "stock": 250, "description": "Now with glow ink."},
    )
    assert "is updated" in (await edited.wait_followup()).content

    def shown() -> dict[str, str]:
        embed = sandbox.world.messages_by_id[post.id].embeds[0]
        fields = {field["name"]: field["value"] for field in embed["fields"]}
        return {**fields, "title": embed["title"], "description": embed.get("description", "")}

    # The post follows off the manager's command (the refresher), within its interval.
    await wait_for(lambda: shown()["Stock"] == "250", 8, "the post to show the new stock")
    assert shown()["description"] == "Now with glow ink."

    cancelled = await sandbox.slash(community.manager, "drop cancel", {"drop": "Night Moth Tee"})
    assert "is cancelled" in (await cancelled.wait_followup()).content
    await wait_for(lambda: "(cancelled)" in shown()["title"], 8, "the post to show the cancel")
    latest = sandbox.world.messages_by_id[post.id]
    buttons = [c for row in latest.components for c in row["components"]]
    assert buttons and all(button.get("disabled") for button in buttons)
    assert sandbox.scheduled_events(community.guild.id) == []
    status = await sandbox.slash(community.fans[0], "waitlist status")
    assert "was cancelled" in status.content


async def test_the_post_follows_the_drop_going_live(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    # What the scheduler does at opening time: the drop turns live and says so.
    await bot.services.drops.open(drop_id_of(post))

    def shows_open() -> bool:
        return sandbox.world.messages_by_id[post.id].embeds[0]["title"].endswith("(open now)")

    await wait_for(shows_open, timeout=5, what="the announcement to show the drop is open")


async def test_join_button_works_after_restart(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    await bot_runner.start()
    post = await create_drop(sandbox, community)
    await bot_runner.stop()
    await bot_runner.start()
    answer = await sandbox.click(community.fans[0], post, f"dropbell:join:{drop_id_of(post)}")
    assert answer.content.startswith("You're #1 of 1 for **Night Moth Tee**")


async def test_without_manage_events_the_drop_is_still_created_and_the_manager_told(
    sandbox: Sandbox, community: Community, bot, database_path: Path
) -> None:
    sandbox.set_bot_permissions(community.guild.id, BOT_DEFAULT & ~MANAGE_EVENTS)
    result = await sandbox.slash(
        community.manager, "drop create", drop_options(channel=community.drops)
    )
    followup = await result.wait_followup()
    assert "is announced" in followup.content
    assert "Manage Events" in followup.content
    assert sandbox.scheduled_events(community.guild.id) == []
    assert count_rows(database_path, "drops") == 1


async def test_a_product_needs_a_connected_shop(
    sandbox: Sandbox, community: Community, bot
) -> None:
    result = await sandbox.slash(
        community.manager, "drop create", drop_options(channel=community.drops, product="tee-1")
    )
    answer = await result.wait_final()
    assert "No shop is connected" in answer.text
    assert bot is not None and await bot.services.drops.drops(community.guild.id) == []


async def test_show_gives_the_manager_the_drop_and_its_post(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    await sandbox.click(community.fans[0], post, f"dropbell:join:{drop_id_of(post)}")
    shown = await sandbox.slash(community.manager, "drop show", {"drop": "Night Moth Tee"})
    assert shown.ephemeral
    fields = {field["name"]: field["value"] for field in shown.embeds[0]["fields"]}
    assert fields["Waitlist"] == "1 waiting"
    assert fields["Product"] == "not set"  # waitlist only (the drop-day tests sell one)
    assert fields["Announcement"].endswith(f"/{community.drops.id}/{post.id}")
