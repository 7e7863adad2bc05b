"""``/collector tier-set | tier-remove | tiers`` (managers, checked on every call) and
``/collector profile`` (fans) in one group, so the group carries no default permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui import guild_id_of, manager_only, services_of
from cogs.collectors.profile import answer_profile
from services.collectors import wording
from services.collectors.service import RoleFacts
from services.text import fit_lines

if TYPE_CHECKING:
    from bot.bot import Dropbell

TierName = app_commands.Range[str, 1, 50]


async def tier_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    names = await services_of(interaction).collectors.tier_names(interaction.guild_id, current)
    return [app_commands.Choice(name=name, value=name) for name in names[:25]]


def role_facts(guild: discord.Guild, role: discord.Role) -> RoleFacts:
    me = guild.me
    permissions = me.guild_permissions
    return RoleFacts(
        id=role.id,
        is_everyone=role.is_default(),
        managed=role.managed,
        bot_can_manage_roles=permissions.manage_roles or permissions.administrator,
        below_bot=role < me.top_role,
    )


@app_commands.guild_only()
class CollectorCommands(
    commands.GroupCog, group_name="collector", group_description="Collector tiers and profiles"
):
    def __init__(self, bot: Dropbell) -> None:
        self.bot = bot

    @app_commands.command(name="tier-set", description="Create or change a collector tier")
    @app_commands.describe(
        name="The tier's name, such as Gold",
        role="The role fans in this tier get",
        min_purchases="Purchases in this server that reach the tier",
    )
    @app_commands.autocomplete(name=tier_autocomplete)
    @manager_only()
    async def tier_set(
        self,
        interaction: discord.Interaction[Dropbell],
        name: TierName,
        role: discord.Role,
        min_purchases: app_commands.Range[int, 1, 100_000],
    ) -> None:
        guild_id = guild_id_of(interaction)
        assert interaction.guild is not None
        done = await services_of(interaction).collectors.set_tier(
            guild_id, interaction.user.id, name, role_facts(interaction.guild, role), min_purchases
        )
        await interaction.response.send_message(
            done.sentence, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="tier-remove", description="Remove a collector tier")
    @app_commands.describe(name="The tier to remove")
    @app_commands.autocomplete(name=tier_autocomplete)
    @manager_only()
    async def tier_remove(self, interaction: discord.Interaction[Dropbell], name: TierName) -> None:
        sentence = await services_of(interaction).collectors.remove_tier(
            guild_id_of(interaction), name
        )
        await interaction.response.send_message(
            sentence, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="tiers", description="This server's collector tiers")
    @manager_only()
    async def tiers(self, interaction: discord.Interaction[Dropbell]) -> None:
        tiers = await services_of(interaction).collectors.tiers(guild_id_of(interaction))
        text = (
            fit_lines(wording.tier_lines(tiers), head="**Collector tiers**\n")
            if tiers
            else wording.NO_TIERS + " Add one with /collector tier-set."
        )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="profile", description="Your collector profile, or a member's")
    @app_commands.describe(member="Whose profile (shown only if they made it public)")
    async def profile(
        self, interaction: discord.Interaction[Dropbell], member: discord.Member | None = None
    ) -> None:
        await answer_profile(interaction, member)
