"""Option helpers shared by /drop and /waitlist: drop autocomplete and member facts."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.errors import UserError
from bot.ui import guild_id_of, services_of
from services.drops.rules import (
    MAX_DAYS,
    MAX_DESCRIPTION_LENGTH,
    MAX_EARLY_ACCESS_MINUTES,
    MAX_NAME_LENGTH,
    MAX_PRODUCT_LENGTH,
    MAX_STOCK,
    Member,
)
from services.localtime import format_local
from storage.drops import Drop

# Bounds in the command schema: Discord refuses out-of-range input in the client, before it
# ever reaches us, and nothing free-text can overflow the announcement embed.
DropName = app_commands.Range[str, 1, MAX_NAME_LENGTH]
Description = app_commands.Range[str, 1, MAX_DESCRIPTION_LENGTH]
Product = app_commands.Range[str, 1, MAX_PRODUCT_LENGTH]
WallClock = app_commands.Range[str, 1, 40]
ZoneName = app_commands.Range[str, 1, 64]
DropChoice = app_commands.Range[str, 1, 100]
Stock = app_commands.Range[int, 1, MAX_STOCK]
Days = app_commands.Range[int, 0, MAX_DAYS]
EarlyMinutes = app_commands.Range[int, 0, MAX_EARLY_ACCESS_MINUTES]


async def drop_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """This server's drops by name, open ones first; the value is the drop id."""
    if interaction.guild_id is None:
        return []
    found = await services_of(interaction).drops.suggest(interaction.guild_id, current)
    choices = []
    for drop in found:
        label = f"{drop.name} · {drop.status} · {format_local(drop.starts_at, drop.timezone)}"
        choices.append(app_commands.Choice(name=label[:100], value=str(drop.id)))
    return choices


async def product_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Every connected shop's products by name, price and stock; the value is ``shop:id``."""
    found = await services_of(interaction).drop_day.products.choices(current)
    return [app_commands.Choice(name=choice.label, value=choice.value) for choice in found]


async def resolve_drop(interaction: discord.Interaction[Any], typed: str) -> Drop:
    """The drop a ``drop`` option names, in the server the command came from."""
    return await services_of(interaction).drops.resolve(guild_id_of(interaction), typed)


def member_facts(user: discord.Member | discord.User) -> Member:
    if isinstance(user, discord.Member):
        return Member(
            role_ids=frozenset(role.id for role in user.roles),
            account_created_at=user.created_at,
            joined_server_at=user.joined_at,
        )
    return Member(frozenset(), user.created_at, None)


async def member_in_drop_server(
    interaction: discord.Interaction[Any], drop_id: int
) -> tuple[int, discord.Member]:
    """From a DM (no server, the user a plain User): the drop's server and the fan as its
    member, fetched through REST so entry requirements judge their real roles and join date.
    Only a press in a DM pays this request; in the server the interaction carries the member."""
    drop = await services_of(interaction).drops.get_any(drop_id)
    guild = interaction.client.get_guild(drop.guild_id) if drop is not None else None
    if drop is None or guild is None:
        raise UserError("That drop no longer exists, so there is no waitlist to join.")
    try:
        member = await guild.fetch_member(interaction.user.id)
    except discord.NotFound:
        raise UserError(
            f"You're no longer a member of **{guild.name}**, so you can't join **{drop.name}**; "
            "join the server again first."
        ) from None
    return guild.id, member
