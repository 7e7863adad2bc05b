"""``/drop create | edit | cancel | list | show | export`` (managers' side)."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from bot.errors import UserError
from bot.ui import ManagerCog, channel_or_default, guild_id_of, services_of
from cogs._options import timezone_autocomplete
from cogs.drops import server_event
from cogs.drops.announcement import post_announcement, render_embed
from cogs.drops.export import drop_csv
from cogs.drops.options import (
    Days,
    Description,
    DropChoice,
    DropName,
    EarlyMinutes,
    Product,
    Stock,
    WallClock,
    ZoneName,
    drop_autocomplete,
    product_autocomplete,
    resolve_drop,
)
from cogs.drops.refresher import AnnouncementRefresher
from services import localtime
from services.dropday.export import export_rows
from services.drops.allocation import allocation_steps
from services.drops.rules import DropSpec
from services.text import fit_lines, plural
from storage.drops import Drop
from storage.states import DropStatus

if TYPE_CHECKING:
    from bot.bot import Dropbell

log = logging.getLogger("dropbell.drops")

Allocation = Literal["waitlist-order", "raffle", "collectors-first"]
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


async def read_image(image: discord.Attachment) -> discord.File:
    """The option's image as bytes to upload with the post: an option attachment is temporary
    and its CDN URL expires, so the post must carry its own copy."""
    extension = IMAGE_TYPES.get((image.content_type or "").split(";")[0].strip())
    if extension is None:
        raise UserError(f"{image.filename} is not an image; attach a PNG, JPEG, GIF or WebP.")
    try:
        data = await image.read()
    except discord.HTTPException as error:
        raise UserError(
            f"I couldn't read {image.filename} ({error.text or error.status}); attach it again."
        ) from error
    return discord.File(io.BytesIO(data), filename=f"drop.{extension}")


def raffle_text(drop: Drop) -> str:
    lines = [f"commitment: `{drop.raffle_commitment}`"]
    if drop.drawn_at is not None:
        lines.append(f"seed: `{drop.raffle_seed}`")
        lines.append(f"entries: {drop.waitlist_size:,} · winners so far: {drop.claim_window:,}")
    else:
        lines.append(f"entries so far: {drop.waitlist_size:,} · the seed is published at the draw")
    return "\n".join([*lines, *allocation_steps(drop)])


class DropCommands(ManagerCog, group_name="drop", group_description="Manage drops"):
    def __init__(self, bot: Dropbell, refresher: AnnouncementRefresher) -> None:
        self.bot = bot
        self.refresher = refresher

    async def cog_load(self) -> None:
        self.refresher.start()

    async def cog_unload(self) -> None:
        await self.refresher.stop()

    @app_commands.command(name="create", description="Announce a new drop")
    @app_commands.describe(
        name="What the drop is called (up to 80 characters)",
        starts_at="Opening time as YYYY-MM-DD HH:MM (24 h) in the time zone below",
        timezone="IANA time zone, such as Europe/Berlin",
        stock="How many units there are",
        description="The story: what it is, who made it, why",
        image="An image shown in the announcement",
        channel="Where to announce it (default: the announce channel from /dropbell setup)",
        ping_role="A role to mention once in the announcement",
        allocation="How purchase links are handed out at opening",
        early_access_minutes="Minutes when only waitlisted fans (and collectors) may claim",
        product="The shop product or variant",
        required_role="Only members with this role may join",
        min_account_age_days="Minimum Discord account age to join",
        min_member_days="Minimum days in this server to join",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete, product=product_autocomplete)
    async def create(
        self,
        interaction: discord.Interaction[Dropbell],
        name: DropName,
        starts_at: WallClock,
        timezone: ZoneName,
        stock: Stock,
        description: Description | None = None,
        image: discord.Attachment | None = None,
        channel: discord.TextChannel | None = None,
        ping_role: discord.Role | None = None,
        allocation: Allocation = "waitlist-order",
        early_access_minutes: EarlyMinutes = 0,
        product: Product | None = None,
        required_role: discord.Role | None = None,
        min_account_age_days: Days = 0,
        min_member_days: Days = 0,
    ) -> None:
        guild_id = guild_id_of(interaction)
        # Defer before any database work: the 3-second clock started at Discord, and a write
        # may queue behind a burst of joins.
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = await channel_or_default(interaction, channel, "Where should I announce it?")
        if product is not None:
            await services_of(interaction).drop_day.products.check(product)
        picture = await read_image(image) if image is not None else None
        spec = DropSpec(
            name=name,
            starts_at=localtime.parse_local(starts_at, timezone),
            timezone=timezone.strip(),
            stock=stock,
            description=description,
            image_url=f"attachment://{picture.filename}" if picture else None,
            channel_id=target.id,
            ping_role_id=ping_role.id if ping_role else None,
            allocation=allocation,
            early_access_minutes=early_access_minutes,
            product=product,
            required_role_id=required_role.id if required_role else None,
            min_account_age_days=min_account_age_days,
            min_member_days=min_member_days,
        )
        service = services_of(interaction).drops
        drop = await service.create(guild_id, interaction.user.id, spec)
        try:
            message = await post_announcement(target, drop, ping_role, picture)
        except discord.HTTPException as error:
            await service.delete(drop.id)
            raise UserError(
                f"I couldn't post in <#{target.id}> ({error.text or error.status}); give me "
                "Send Messages, Embed Links and Attach Files there, then try again. Nothing "
                "was created."
            ) from error
        self.refresher.posted(drop, message)
        event_id, event_note = await server_event.create_event(interaction.guild, drop)
        await service.announced(
            drop.id, channel_id=target.id, message_id=message.id, event_id=event_id
        )
        await interaction.followup.send(
            f"**{drop.name}** is announced in <#{target.id}>: opens "
            f"{localtime.discord_timestamp(drop.starts_at, 'F')}, {drop.stock:,} in stock."
            f"{event_note}",
            ephemeral=True,
        )

    @app_commands.command(name="edit", description="Change a drop's time, stock, text or rules")
    @app_commands.describe(
        drop="The drop to edit",
        starts_at="New opening time as YYYY-MM-DD HH:MM (in the drop's or the given zone)",
        timezone="New time zone (IANA name)",
        stock="New stock",
        description="New description",
        required_role="New required role",
        min_account_age_days="New minimum account age in days (0 for none)",
        min_member_days="New minimum days in this server (0 for none)",
        clear_required_role="Remove the required role",
    )
    @app_commands.autocomplete(drop=drop_autocomplete, timezone=timezone_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction[Dropbell],
        drop: DropChoice,
        starts_at: WallClock | None = None,
        timezone: ZoneName | None = None,
        stock: Stock | None = None,
        description: Description | None = None,
        required_role: discord.Role | None = None,
        min_account_age_days: Days | None = None,
        min_member_days: Days | None = None,
        clear_required_role: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_drop(interaction, drop)
        changes: dict[str, Any] = {}
        if starts_at is not None or timezone is not None:
            zone_name = (timezone or found.timezone).strip()
            wall_clock = starts_at or localtime.format_local(found.starts_at, found.timezone)[:16]
            changes["starts_at"] = localtime.parse_local(wall_clock, zone_name)
            changes["timezone"] = zone_name
        for key, value in (
            ("stock", stock),
            ("description", description),
            ("min_account_age_days", min_account_age_days),
            ("min_member_days", min_member_days),
        ):
            if value is not None:
                changes[key] = value
        if required_role is not None:
            changes["required_role_id"] = required_role.id
        elif clear_required_role:
            changes["required_role_id"] = None
        updated = await services_of(interaction).drops.update(found.guild_id, found.id, **changes)
        # The post follows through the refresher (drop_changed); nothing here waits for it.
        note = await server_event.follow_drop(interaction.guild, updated)
        # A new zone (or time) moves the opening instant: say where it landed.
        when = (
            f" It now opens {localtime.discord_timestamp(updated.starts_at, 'F')} "
            f"({localtime.format_local(updated.starts_at, updated.timezone)})."
            if "starts_at" in changes
            else ""
        )
        await interaction.followup.send(
            f"**{updated.name}** is updated; its post follows in a moment.{when}{note}",
            ephemeral=True,
        )

    @app_commands.command(name="cancel", description="Cancel a drop")
    @app_commands.describe(drop="The drop to cancel")
    @app_commands.autocomplete(drop=drop_autocomplete)
    async def cancel(self, interaction: discord.Interaction[Dropbell], drop: DropChoice) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_drop(interaction, drop)
        cancelled = await services_of(interaction).drops.cancel(found.guild_id, found.id)
        note = await server_event.follow_drop(interaction.guild, cancelled)
        await interaction.followup.send(
            f"**{cancelled.name}** is cancelled. Its post shows it and waitlisted fans see it in "
            f"/waitlist status (no DMs are sent).{note}",
            ephemeral=True,
        )

    @app_commands.command(name="list", description="This server's drops")
    async def list_drops(self, interaction: discord.Interaction[Dropbell]) -> None:
        service = services_of(interaction).drops
        found = await service.drops(guild_id_of(interaction))
        if not found:
            await interaction.response.send_message(
                "No drops yet. Create one with /drop create.", ephemeral=True
            )
            return
        counts = await service.waitlist_counts([drop.id for drop in found])
        lines = [
            f"**{drop.name}** · {drop.status} · "
            f"{'opens' if drop.status == DropStatus.SCHEDULED else 'opened'} "
            f"{localtime.discord_timestamp(drop.starts_at, 'f')} · stock {drop.stock:,} · "
            f"{counts[drop.id]:,} waiting"
            for drop in found
        ]
        await interaction.response.send_message(fit_lines(lines), ephemeral=True)

    @app_commands.command(name="show", description="A drop's details")
    @app_commands.describe(drop="The drop to show")
    @app_commands.autocomplete(drop=drop_autocomplete)
    async def show(self, interaction: discord.Interaction[Dropbell], drop: str) -> None:
        service = services_of(interaction).drops
        found = await resolve_drop(interaction, drop)
        embed = render_embed(found, await service.waitlist_count(found.id), with_image=False)
        if found.channel_id and found.message_id and found.guild_id:
            link = (
                f"https://discord.com/channels/{found.guild_id}/{found.channel_id}/"
                f"{found.message_id}"
            )
            embed.add_field(name="Announcement", value=link, inline=False)
        embed.add_field(name="Product", value=found.product or "not set", inline=True)
        if found.product:
            counts = await services_of(interaction).drop_day.counts(found.id)
            embed.add_field(
                name="Claims",
                value=f"{counts.claimed:,} claimed · {counts.paid:,} paid · {counts.held:,} held "
                f"· {counts.expired:,} expired · {counts.refunded:,} refunded · "
                f"{found.remaining:,} remaining",
                inline=False,
            )
        if found.allocation == "raffle":
            embed.add_field(name="Raffle", value=raffle_text(found), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="export", description="The waitlist and its claims as CSV")
    @app_commands.describe(drop="The drop to export")
    @app_commands.autocomplete(drop=drop_autocomplete)
    async def export(self, interaction: discord.Interaction[Dropbell], drop: str) -> None:
        found = await resolve_drop(interaction, drop)
        services = services_of(interaction)
        _, line = await services.drops.export(found.guild_id, found.id)
        rows = export_rows(line, await services.drop_day.claims_of(found.id))
        await interaction.response.send_message(
            f"The waitlist for **{found.name}**: {plural(len(line), 'fan')}.",
            file=discord.File(io.BytesIO(drop_csv(rows)), filename=f"drop-{found.id}.csv"),
            ephemeral=True,
        )

    @app_commands.command(name="open", description="Open a drop now")
    @app_commands.describe(drop="The drop to open now")
    @app_commands.autocomplete(drop=drop_autocomplete)
    async def open_now(self, interaction: discord.Interaction[Dropbell], drop: DropChoice) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_drop(interaction, drop)
        await services_of(interaction).drops.open_now(found.guild_id, found.id)
        await interaction.followup.send(
            f"**{found.name}** opens now: the opening post follows in a moment"
            + (" with **Get my link**." if found.product else "."),
            ephemeral=True,
        )
