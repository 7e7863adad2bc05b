"""What a drop may be, and who may join it: pure functions, no storage and no Discord."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.errors import UserError
from services.localtime import discord_timestamp
from services.text import plural
from storage.drops import Drop
from storage.states import Allocation, DropStatus

# Only what runs today (say a rule here the day it runs).
ALLOCATIONS: Mapping[Allocation, str] = {
    Allocation.WAITLIST_ORDER: (
        "Links go out in waitlist order: during early access, fans on the waitlist by place, "
        "in waves; after it, anyone in the server."
    ),
    Allocation.RAFFLE: (
        "Links go out by raffle among the waitlist: everyone on it when the drop opens is in "
        "the draw, whenever they joined; the seed's hash is below and the seed is published "
        "at the draw, so anyone can re-run it."
    ),
    Allocation.COLLECTORS_FIRST: (
        "Collectors first: members holding a collector tier's role (earned by purchases here, "
        "see /collector profile) may claim as soon as it opens; then the waitlist in order."
    ),
}
MAX_NAME_LENGTH = 80
# The announcement embed holds the description (Discord: 4,096) beside its other fields, and all
# of an embed must stay under 6,000 characters.
MAX_DESCRIPTION_LENGTH = 4000
MAX_PRODUCT_LENGTH = 200
MAX_STOCK = 1_000_000
MAX_DAYS = 3650
MAX_EARLY_ACCESS_MINUTES = 7 * 24 * 60
# Options counting days or minutes: their label in sentences, their unit and largest value.
BOUNDED: Mapping[str, tuple[str, str, int]] = {
    "early_access_minutes": ("early access", "minute", MAX_EARLY_ACCESS_MINUTES),
    "min_account_age_days": ("minimum account age", "day", MAX_DAYS),
    "min_member_days": ("minimum days in this server", "day", MAX_DAYS),
}
# What /drop edit may change; anything else is a programming error, not a manager's.
EDITABLE = frozenset(
    {
        "name",
        "starts_at",
        "timezone",
        "stock",
        "description",
        "required_role_id",
        "min_account_age_days",
        "min_member_days",
    }
)


@dataclass(frozen=True)
class DropSpec:
    """What a manager asks for; validated by :func:`validate_spec`."""

    name: str
    starts_at: datetime
    timezone: str
    stock: int
    description: str | None = None
    image_url: str | None = None
    channel_id: int | None = None
    ping_role_id: int | None = None
    allocation: str = Allocation.WAITLIST_ORDER
    early_access_minutes: int = 0
    product: str | None = None
    required_role_id: int | None = None
    min_account_age_days: int = 0
    min_member_days: int = 0


@dataclass(frozen=True)
class Member:
    """The parts of a Discord member that entry requirements look at."""

    role_ids: frozenset[int]
    account_created_at: datetime
    joined_server_at: datetime | None


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise UserError("The drop needs a name; give it one of up to 80 characters.")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise UserError(
            f"That name is {len(cleaned)} characters long; keep it to {MAX_NAME_LENGTH} or fewer."
        )
    return cleaned


def check_stock(stock: int) -> None:
    if not 1 <= stock <= MAX_STOCK:
        raise UserError(f"Stock must be between 1 and {MAX_STOCK:,}; you gave {stock:,}.")


def check_future(starts_at: datetime, now: datetime) -> None:
    if starts_at <= now:
        raise UserError(
            f"That time ({discord_timestamp(starts_at)}) is in the past; pick a time that is "
            "still to come."
        )


def check_bounds(values: Mapping[str, Any]) -> None:
    for key, (label, unit, largest) in BOUNDED.items():
        value = values.get(key)
        if value is not None and value < 0:
            raise UserError(f"The {label} cannot be negative; use 0 for none.")
        if value is not None and value > largest:
            raise UserError(
                f"The {label} can be at most {plural(largest, unit)}; you gave {value:,}."
            )
    for label, longest in (
        ("description", MAX_DESCRIPTION_LENGTH),
        ("product", MAX_PRODUCT_LENGTH),
    ):
        text = values.get(label)
        if text is not None and len(text) > longest:
            raise UserError(
                f"The {label} is {len(text):,} characters long; keep it to {longest:,} or fewer."
            )


def validate_spec(spec: DropSpec, now: datetime) -> DropSpec:
    name = clean_name(spec.name)
    check_stock(spec.stock)
    check_future(spec.starts_at, now)
    if spec.allocation not in ALLOCATIONS:
        raise UserError(
            f"{spec.allocation!r} is not an allocation method; use one of {', '.join(ALLOCATIONS)}."
        )
    check_bounds(dataclasses.asdict(spec))
    return dataclasses.replace(spec, name=name, allocation=Allocation(spec.allocation))


def validate_changes(drop: Drop, changes: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The column values a /drop edit of ``drop`` with ``changes`` writes (the name's uniqueness
    is checked by the service, which can see the other drops)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if not drop.is_open:
        raise UserError(f"**{drop.name}** is {drop.status}; only open drops can be edited.")
    if drop.status != DropStatus.SCHEDULED and {"starts_at", "timezone"} & set(changes):
        # The opening has happened: moving it would rewrite what fans already saw.
        raise UserError(
            f"**{drop.name}** already opened {discord_timestamp(drop.starts_at, 'R')}; its "
            "time can't change any more. Edit its stock or text, or cancel it."
        )
    values = dict(changes)
    if "name" in values:
        values["name"] = clean_name(values["name"])
    if "starts_at" in values:
        check_future(values["starts_at"], now)
    check_bounds(values)
    if "stock" in values:
        check_stock(values["stock"])
        handed_out = drop.stock - drop.remaining
        if values["stock"] < handed_out:
            raise UserError(
                f"{plural(handed_out, 'link is', 'links are')} already out for **{drop.name}**; "
                "stock can't go below that."
            )
        values["remaining"] = values["stock"] - handed_out
    if not values:
        raise UserError("Nothing to change: give at least one option to edit.")
    return values


def unmet_requirement(drop: Drop, member: Member, now: datetime) -> str | None:
    """The sentence telling a fan which entry requirement they miss (and when they'd meet it)."""
    if drop.required_role_id and drop.required_role_id not in member.role_ids:
        return (
            f"**{drop.name}** is open to members with the role <@&{drop.required_role_id}>; "
            "you don't have it yet."
        )
    if drop.min_account_age_days:
        eligible = member.account_created_at + timedelta(days=drop.min_account_age_days)
        if eligible > now:
            return (
                f"**{drop.name}** needs a Discord account at least "
                f"{plural(drop.min_account_age_days, 'day')} old; yours will be, {_when(eligible)}."
            )
    if drop.min_member_days:
        joined = member.joined_server_at or now
        eligible = joined + timedelta(days=drop.min_member_days)
        if eligible > now:
            return (
                f"**{drop.name}** needs {plural(drop.min_member_days, 'day')} in this server; "
                f"you'll qualify {_when(eligible)}."
            )
    return None


def _when(moment: datetime) -> str:
    return f"on {discord_timestamp(moment, 'f')} ({discord_timestamp(moment, 'R')})"
