"""Create drop from this poll: a modal, the drop announced, its waitlist pre-filled with the
committed fans in order of first commitment (seen in /waitlist status) before the post goes
out; a DM only to those who opted in to reminders."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from sandbox import Message, Sandbox
from tests.databases import query
from tests.e2e.poll_support import berlin_in, commit, create_poll, field_values, poll_id_of
from tests.harness import Community, create_drop, drop_id_of, wait_for


def inputs_by_label(modal: dict[str, Any]) -> dict[str, str]:
    found = {}
    for row in modal["components"]:
        for comp in row["components"]:
            found[comp["label"]] = comp["custom_id"]
    return found


async def test_drop_from_poll_prefills_the_waitlist_in_commitment_order(
    sandbox: Sandbox, community: Community, bot
) -> None:
    sandbox.relax("channel_send_limit", reason="poll, results and drop in one channel")
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    f0, f1, f2, f3 = community.fans[:4]
    await commit(sandbox, f2, post, 0, 1)  # first
    await commit(sandbox, f0, post, 1, 5)  # second
    await commit(sandbox, f3, post, 1, 1)
    await commit(sandbox, f1, post, 1, 2)  # third once f3 withdraws
    await commit(sandbox, f2, post, 1, 1)  # a later commitment does not move f2 back
    withdraw = await commit(sandbox, f3, post, 1, 1)
    assert withdraw.message is not None
    await sandbox.click(f3, withdraw.message, f"dropbell:withdraw:{poll_id}:1")

    closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    offer = await closing.wait_followup()
    shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
    assert shown.modal is not None and shown.modal["title"] == "Create drop from this poll"
    fields = inputs_by_label(shown.modal)
    prefilled = {
        comp["label"]: comp.get("value")
        for row in shown.modal["components"]
        for comp in row["components"]
    }
    # The winning option (most units) names the drop; its units suggest the stock.
    assert prefilled["Drop name"] == "Moth Hoodie"
    assert prefilled["Stock (units)"] == "8"

    opens = berlin_in(timedelta(days=5))
    submitted = await sandbox.submit_modal(
        community.manager,
        shown,
        {fields["Opens at (YYYY-MM-DD HH:MM, 24 h)"]: opens, fields["Stock (units)"]: "50"},
    )
    done = await submitted.wait_followup()
    assert "**Moth Hoodie** is announced in" in done.content
    assert "starts with the 3 fans who committed" in done.content
    announcement = sandbox.messages(community.drops.id)[-1]
    drop = await bot.services.drops.get_any(drop_id_of(announcement))
    assert drop.stock == 50 and drop.waitlist_size == 3
    assert "Moth Hoodie" in (drop.description or "")

    for fan, place in ((f2, 1), (f0, 2), (f1, 3)):
        status = await sandbox.slash(fan, "waitlist status")
        assert f"**Moth Hoodie**: #{place} of 3" in status.content, status.content
    status = await sandbox.slash(f3, "waitlist status")
    assert "Moth Hoodie" not in status.content
    # Nobody opted in to reminders, so nobody got a DM.
    assert all(sandbox.dms(fan.id) == [] for fan in community.fans)
    # One drop per poll.
    again = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
    assert again.content == "A drop was already made from **Which winter piece should we make?**."


async def test_a_bad_time_in_the_modal_is_one_sentence_and_makes_nothing(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    await commit(sandbox, community.fans[0], post, 0, 1)
    await bot.services.polls.close(community.guild.id, poll_id)
    results = [m for m in sandbox.messages(community.drops.id) if m.content.startswith("📊")][-1]
    shown = await sandbox.click(community.manager, results, f"dropbell:polldrop:{poll_id}")
    assert shown.modal is not None
    fields = inputs_by_label(shown.modal)
    submitted = await sandbox.submit_modal(
        community.manager, shown, {fields["Opens at (YYYY-MM-DD HH:MM, 24 h)"]: "tomorrow-ish"}
    )
    final = await submitted.wait_final()
    text = final.content or final.followups[0].content
    assert text.startswith("'tomorrow-ish' is not a time I can read")
    assert await bot.services.drops.drops(community.guild.id) == []
    assert (await bot.services.polls.get_any(poll_id)).drop_id is None


async def test_the_committed_fans_are_on_the_line_before_the_announcement_is_posted(
    sandbox: Sandbox, community: Community, bot
) -> None:
    """The moment the drop's post exists anyone can press Join on it: the committed fans must
    already be on the line then, or a quick fan gets ahead of them."""
    sandbox.relax("channel_send_limit", reason="poll, results and drop in one channel")
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    f0, f1, f2, quick = community.fans[:4]
    for fan, option in ((f0, 0), (f1, 1), (f2, 1)):
        await commit(sandbox, fan, post, option, 2)
    closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    offer = await closing.wait_followup()
    shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
    assert shown.modal is not None

    at_posting: list[str] = []
    presses: list[asyncio.Task[Any]] = []

    def on_message(event: str, message: Message) -> None:
        join = [cid for cid in message.custom_ids() if cid.startswith("dropbell:join:")]
        if event == "MESSAGE_CREATE" and join and not at_posting:
            at_posting.append(field_values(message)["Waitlist"])
            # A fan not in the poll presses Join the instant the post appears.
            presses.append(asyncio.create_task(sandbox.click(quick, message, join[0])))

    sandbox.world.message_listeners.append(on_message)
    fields = inputs_by_label(shown.modal)
    submitted = await sandbox.submit_modal(
        community.manager,
        shown,
        {fields["Opens at (YYYY-MM-DD HH:MM, 24 h)"]: berlin_in(timedelta(days=5))},
    )
    done = await submitted.wait_followup()
    assert "starts with the 3 fans who committed" in done.content
    assert at_posting == ["3 waiting"]  # the line was full when the post went out
    joined = await presses[0]
    assert "#4 of 4" in joined.content, joined.content
    for fan, place in ((f0, 1), (f1, 2), (f2, 3)):
        status = await sandbox.slash(fan, "waitlist status")
        assert f"**Moth Hoodie**: #{place} of 4" in status.content, status.content


async def test_only_committed_fans_who_opted_in_to_reminders_get_a_dm(
    sandbox: Sandbox, community: Community, database_path: Path, bot
) -> None:
    """ "Opted in to reminders" as the purchase thank-you reads it (a Remind me opt-in, not
    unreachable since), taken server-wide: nobody could opt in to the new drop yet."""
    sandbox.relax("channel_send_limit", reason="a drop, a poll, results and a drop in one channel")
    earlier = await create_drop(sandbox, community, name="Night Moth Tee")
    opted, other = community.fans[:2]
    pressed = await sandbox.click(opted, earlier, f"dropbell:remind:{drop_id_of(earlier)}")
    assert pressed.ephemeral
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    await commit(sandbox, other, post, 1, 2)
    await commit(sandbox, opted, post, 1, 1)
    closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    offer = await closing.wait_followup()
    shown = await sandbox.click(community.manager, offer, f"dropbell:polldrop:{poll_id}")
    assert shown.modal is not None
    fields = inputs_by_label(shown.modal)
    submitted = await sandbox.submit_modal(
        community.manager,
        shown,
        {fields["Opens at (YYYY-MM-DD HH:MM, 24 h)"]: berlin_in(timedelta(days=5))},
    )
    await submitted.wait_followup()
    announcement = sandbox.messages(community.drops.id)[-1]

    await wait_for(lambda: len(sandbox.dms(opted.id)) == 1, 10, "the opted-in fan's DM")
    [dm] = sandbox.dms(opted.id)
    assert dm.content.startswith(
        "📋 **Moth Hoodie** was made from the pre-order poll you committed to, and you are on "
        "its waitlist"
    ), dm.content
    assert f"/{announcement.channel_id}/{announcement.id}" in dm.content  # the post's link
    status = await sandbox.slash(opted, "waitlist status")
    assert "**Moth Hoodie**: #2 of 2" in status.content, status.content
    # The fan who never asked for reminders is told in /waitlist status only.
    status = await sandbox.slash(other, "waitlist status")
    assert "**Moth Hoodie**: #1 of 2" in status.content, status.content
    # One fan-out, in one transaction: the DMs owed are exactly the opted-in fan's.
    owed = query(
        database_path,
        "SELECT d.user_id FROM reminder_deliveries d JOIN scheduled_sends s ON s.id = d.send_id "
        "WHERE s.kind = 'poll_drop'",
    )
    assert owed == [(opted.id,)]
    assert sandbox.dms(other.id) == []
