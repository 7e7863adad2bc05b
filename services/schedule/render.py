"""What the scheduled posts and reminder DMs say. Each ends with a small marker line
(``-# dropbell · ref S12``) so a restart can find a post it may already have made."""

from __future__ import annotations

import re

from services.drops.rules import ALLOCATIONS
from services.localtime import discord_timestamp
from services.text import duration_text, fit_lines
from storage.drops import Drop
from storage.reminders import Delivery
from storage.schedule import ScheduledSend
from storage.states import Allocation, SendKind

MAX_ANNOUNCEMENT = 1900  # Discord allows 2,000; the rest is for the marker line.


def marker_line(marker: str) -> str:
    return f"\n-# dropbell · {marker}"


def marker_pattern(marker: str) -> re.Pattern[str]:
    # \b: "ref S1" must not match "ref S12".
    return re.compile(rf"dropbell · {re.escape(marker)}\b")


def announcement_link(drop: Drop) -> str:
    if drop.channel_id and drop.message_id:
        return f"https://discord.com/channels/{drop.guild_id}/{drop.channel_id}/{drop.message_id}"
    return ""


def announcement(send: ScheduledSend) -> str:
    return f"{send.message or ''}{marker_line(send.marker)}"


def countdown(send: ScheduledSend, drop: Drop) -> str:
    # <t:…:R> counts down by itself in every viewer's client: no edits needed.
    lines = [
        f"⏳ **{drop.name}** opens {discord_timestamp(drop.starts_at, 'R')} "
        f"({discord_timestamp(drop.starts_at, 'F')}) — {duration_text(send.offset_seconds)} to go.",
    ]
    link = announcement_link(drop)
    if link:
        lines.append(f"Join the waitlist on the announcement: {link}")
    return "\n".join(lines) + marker_line(send.marker)


def opening(send: ScheduledSend, drop: Drop) -> str:
    ping = f"<@&{drop.ping_role_id}> " if drop.ping_role_id else ""
    lines = [f"{ping}🔔 **{drop.name}** is open now!"]
    if drop.product:
        lines.append(
            f"**{drop.remaining:,}** of {drop.stock:,} left · "
            f"{ALLOCATIONS[drop.allocation].rstrip('.')}. "
            "Press **Get my link** for your own purchase link."
        )
    if drop.allocation == Allocation.RAFFLE and drop.raffle_seed and drop.drawn_at:
        lines.append(
            f"Raffle drawn. seed: `{drop.raffle_seed}` (commitment: `{drop.raffle_commitment}`); "
            "/drop show says how to re-run the draw."
        )
    link = announcement_link(drop)
    if link:
        lines.append(f"Everything is on the announcement: {link}")
    return "\n".join(lines) + marker_line(send.marker)


def reminder_dm(delivery: Delivery, drop: Drop) -> str:
    if delivery.offset_seconds > 0:
        head = (
            f"⏰ **{drop.name}** opens {discord_timestamp(drop.starts_at, 'R')} "
            f"({discord_timestamp(drop.starts_at, 'F')})."
        )
    else:
        head = f"🔔 **{drop.name}** is open now."
    return _dm(head, delivery, drop)


def raffle_dm(delivery: Delivery, drop: Drop) -> str:
    rank = delivery.draw_rank
    if rank is not None and rank <= drop.stock:
        head = (
            f"🎉 You won the **{drop.name}** raffle! Press **Get my link** on the drop's post "
            "for your purchase link."
        )
    elif rank is not None:
        head = (
            f"You did not win the **{drop.name}** raffle this time — thank you for entering. "
            f"You are reserve #{rank - drop.stock}: if a winner's unit goes unpaid, it passes "
            "to the reserves in draw order."
        )
    else:
        head = f"The **{drop.name}** raffle was drawn; you were not on its waitlist at the draw."
    return _dm(head, delivery, drop)


def restock_dm(delivery: Delivery, drop: Drop) -> str:
    head = (
        f"📦 **{drop.name}** has units again: {drop.remaining:,} left. Press **Get my link** "
        "on the drop's post."
    )
    return _dm(head, delivery, drop)


def poll_drop_dm(delivery: Delivery, drop: Drop) -> str:
    opens = f"{discord_timestamp(drop.starts_at, 'R')} ({discord_timestamp(drop.starts_at, 'F')})"
    head = (
        f"📋 **{drop.name}** was made from the pre-order poll you committed to, and you are on "
        f"its waitlist, in order of first commitment (/waitlist status shows your place). It "
        f"opens {opens}."
    )
    return _dm(
        head,
        delivery,
        drop,
        "You get this because you asked for reminders in this server; press Remind me on its "
        "post for this drop's.",
    )


def _dm(
    head: str,
    delivery: Delivery,
    drop: Drop,
    why: str = "You get this because you pressed Remind me; press Stop reminders to stop.",
) -> str:
    lines = [head]
    link = announcement_link(drop)
    if link:
        lines.append(link)
    lines.append(why)
    return "\n".join(lines) + marker_line(delivery.marker)


def dm_for(delivery: Delivery, drop: Drop) -> str:
    if delivery.kind == SendKind.RAFFLE:
        return raffle_dm(delivery, drop)
    if delivery.kind == SendKind.RESTOCK:
        return restock_dm(delivery, drop)
    if delivery.kind == SendKind.POLL_DROP:
        return poll_drop_dm(delivery, drop)
    return reminder_dm(delivery, drop)


def missed_report(sends: list[tuple[ScheduledSend, str]], grace_hours: float) -> str:
    lines = [
        f"I was offline when these posts were due, more than {grace_hours:g} h ago, so I did "
        "not post them late:"
    ]
    items = [f"• {what}, due {discord_timestamp(send.due_at, 'f')}" for send, what in sends]
    return fit_lines(
        items,
        head="\n".join(lines),
        tail="Schedule them again with /announce schedule if they still matter.",
    )


def uncertain_report(send: ScheduledSend, what: str, channel_id: int | None) -> str:
    where = f" in <#{channel_id}>" if channel_id else ""
    return (
        f"I was restarted while posting {what}{where} and could not check whether it went out; "
        "I did not post it again. Please look, and repost it by hand if it is missing."
    )


def failed_report(what: str, channel_id: int | None, reason: str) -> str:
    where = f"<#{channel_id}>" if channel_id else "its channel"
    return (
        f"I could not post {what} in {where} ({reason}). Give me View Channel and Send "
        "Messages there, then schedule it again."
    )
