"""Texts that stay true to the drop's state (issue 9), through the sandbox with the real bot."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox import Sandbox
from tests.harness import Community, create_drop, drop_id_of, wait_for


def berlin_in(minutes: int) -> str:
    moment = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%d %H:%M")


async def test_after_opening_answers_say_opened_and_remind_sends_nothing(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    drop_id = drop_id_of(post)
    first, second = community.fans[:2]
    before = await sandbox.click(first, post, f"dropbell:join:{drop_id}")
    assert "— opens <t:" in before.content
    await bot.services.drops.open(drop_id)

    again = await sandbox.click(first, post, f"dropbell:join:{drop_id}")
    assert "— opened <t:" in again.content and "opens" not in again.content
    status = await sandbox.slash(first, "waitlist status")
    assert re.search(r"#1 of 1, opened <t:\d+:R>", status.content), status.content
    remind = await sandbox.click(second, post, f"dropbell:remind:{drop_id}")
    assert "opened <t:" in remind.content and "won't send you any" in remind.content
    assert "Reminders are **on**" not in remind.content
    listed = await sandbox.slash(community.manager, "drop list")
    assert "· live · opened <t:" in listed.content

    def says_opened() -> bool:
        fields = sandbox.world.messages_by_id[post.id].embeds[0]["fields"]
        return bool(fields) and fields[0]["name"] == "Opened"

    await wait_for(says_opened, timeout=8, what="the post to say Opened")


async def test_raffle_is_a_draw_not_a_queue_and_nothing_unbuilt_is_promised(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community, allocation="raffle", early_access_minutes=30)
    drop_id = drop_id_of(post)
    first, second = community.fans[:2]
    one = await sandbox.click(first, post, f"dropbell:join:{drop_id}")
    assert one.content.startswith("You're in the draw (1 entry) for **Night Moth Tee**")
    two = await sandbox.slash(second, "waitlist join", {"drop": str(drop_id)})
    assert two.content.startswith("You're in the draw (2 entries) ")
    status = await sandbox.slash(first, "waitlist status")
    assert "in the draw (2 entries)" in status.content and "#" not in status.content

    fields = {field["name"]: field["value"] for field in post.embeds[0]["fields"]}
    # The seed's commitment is shown from the start (the seed only at the draw); a raffle has
    # no early window (everyone on the line is in the draw), so the post promises none.
    assert "hash" in fields["How links are given"]
    commitment = fields["Raffle"].split("`")[1]
    assert len(commitment) == 64 and "seed:" not in fields["Raffle"]
    assert "Early access" not in fields
    assert "head start" not in str(fields)


async def test_remind_without_joining_is_no_place_and_status_shows_it(
    sandbox: Sandbox, community: Community, bot
) -> None:
    # Opens in 30 minutes: the hour-before reminder is already past, the opening one is not.
    post = await create_drop(sandbox, community, starts_at=berlin_in(30))
    drop_id = drop_id_of(post)
    fan = community.fans[0]
    remind = await sandbox.click(fan, post, f"dropbell:remind:{drop_id}")
    assert "Reminders are **on**" in remind.content
    assert "I'll DM you when it opens." in remind.content
    assert "1 hour before it opens is already past" in remind.content
    assert "not a place on the waitlist" in remind.content

    status = await sandbox.slash(fan, "waitlist status")
    assert "**Night Moth Tee**: 🔔 reminder on, not on the waitlist — opens <t:" in status.content

    await sandbox.click(fan, post, f"dropbell:join:{drop_id}")
    status = await sandbox.slash(fan, "waitlist status")
    assert "#1 of 1, opens <t:" in status.content and "not on the waitlist" not in status.content


async def test_edit_zone_states_the_new_instant_and_live_time_is_refused(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_drop(sandbox, community)
    drop_id = drop_id_of(post)
    moved = await (
        await sandbox.slash(
            community.manager,
            "drop edit",
            {"drop": str(drop_id), "timezone": "America/New_York"},
        )
    ).wait_final()
    drop = await bot.services.drops.get_any(drop_id)
    stamp = f"<t:{int(drop.starts_at.timestamp())}:F>"
    assert f"It now opens {stamp} (" in moved.content and "America/New_York)" in moved.content

    await bot.services.drops.open(drop_id)
    refused = await (
        await sandbox.slash(
            community.manager, "drop edit", {"drop": str(drop_id), "starts_at": berlin_in(600)}
        )
    ).wait_final()
    assert "already opened" in refused.content and "can't change any more" in refused.content
    assert (await bot.services.drops.get_any(drop_id)).starts_at == drop.starts_at


async def test_setup_without_options_shows_the_settings(
    sandbox: Sandbox, community: Community, bot
) -> None:
    await sandbox.slash(community.manager, "dropbell setup", {"announce_channel": community.drops})
    shown = await sandbox.slash(community.manager, "dropbell setup")
    assert shown.content.startswith("Current settings. Announce channel: <#")
    assert f"<#{community.drops.id}>" in shown.content


async def test_announce_list_shows_drop_rows_in_the_drops_zone_without_ids(
    sandbox: Sandbox, community: Community, bot
) -> None:
    await create_drop(sandbox, community, timezone="America/New_York")
    announcements = bot.services.schedule.announcements
    draft = await announcements.draft(
        community.guild.id,
        community.general.id,
        "Restock on Friday!",
        datetime.now(UTC) + timedelta(days=4),
        "Asia/Tokyo",
        None,
        community.manager.id,
    )
    await announcements.confirm(draft.id, community.manager.id)
    listed = await sandbox.slash(community.manager, "announce list")
    rows = [line for line in listed.content.splitlines() if "follows the drop" in line]
    assert rows, listed.content
    for row in rows:
        assert "America/New_York" in row and not row.startswith("#"), row
    # The id the list shows is the one /announce cancel takes, as shown ("#N").
    [shown] = re.findall(r"^(#\d+) · .* Asia/Tokyo .*Restock", listed.content, re.MULTILINE)
    cancelled = await sandbox.slash(community.manager, "announce cancel", {"announcement": shown})
    assert cancelled.content.startswith("Cancelled"), cancelled.content
