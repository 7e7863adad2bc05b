"""Base pieces every cog builds on, so each interactive thing shares the one error path.

- :class:`PersistentButton`: a ``DynamicItem`` button whose ``custom_id`` carries its state
  (``"dropbell:join:{drop_id}"``), so it works after a restart with nothing in memory. Its
  errors reach :func:`bot.errors.report`; discord.py would only log them, and the fan would see
  "This interaction failed" and no sentence.
- :class:`DropbellModal`: the same for a modal's submission.
- :class:`ManagerCog`: a command group for managers, checked again on every call.
- :func:`services_of`: the typed way from an interaction to the feature services.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Protocol, Self, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot import errors, interaction_meter
from bot.inflight import InFlight
from services.registry import Services

# "{name}" is a number; "{name:a|b}" one of the given words.
_FIELD = re.compile(r"\{(\w+)(?::([\w|]+))?\}")
NUMBER = r"\d+"


class BotResources(Protocol):
    """What cogs may reach through ``interaction.client`` (the bot in ``bot.bot``)."""

    services: Services
    in_flight: InFlight


def services_of(interaction: discord.Interaction[Any]) -> Services:
    return cast(BotResources, interaction.client).services


def guild_id_of(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise errors.UserError("This only works inside a server.")
    return interaction.guild_id


class PersistentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """Subclass with ``custom_id="dropbell:name:{field}"`` and implement :meth:`handle`."""

    label: ClassVar[str] = ""
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    custom_id_format: ClassVar[str]

    def __init_subclass__(cls, *, custom_id: str, **kwargs: Any) -> None:
        cls.custom_id_format = _FIELD.sub(lambda m: "{" + m.group(1) + "}", custom_id)
        pattern = ""
        position = 0
        for match in _FIELD.finditer(custom_id):
            pattern += re.escape(custom_id[position : match.start()])
            choices = match.group(2) or NUMBER
            pattern += f"(?P<{match.group(1)}>{choices})"
            position = match.end()
        pattern += re.escape(custom_id[position:])
        super().__init_subclass__(template=pattern, **kwargs)

    def __init__(self, **fields: int | str) -> None:
        self.fields = fields
        super().__init__(
            discord.ui.Button(
                label=self.button_label(),
                style=self.button_style(),
                custom_id=self.custom_id_format.format(**fields),
            )
        )

    def button_label(self) -> str:
        return self.label

    def button_style(self) -> discord.ButtonStyle:
        return self.style

    def number(self, name: str) -> int:
        return int(self.fields[name])

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> Self:
        fields = match.groupdict()
        return cls(**{k: int(v) if v.isdigit() else v for k, v in fields.items()})

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        cast(BotResources, interaction.client).in_flight.track_current()
        interaction_meter.handling(interaction)
        try:
            await self.handle(interaction)
        except Exception as error:
            await errors.report(interaction, error)


class DropbellModal(discord.ui.Modal):
    """A modal whose submission is tracked and counted like a button, with the one error path."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # The first thing discord.py runs in the submission's task.
        cast(BotResources, interaction.client).in_flight.track_current()
        interaction_meter.handling(interaction)
        return True

    async def on_error(  # type: ignore[override]  # a modal's on_error has no item
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await errors.report(interaction, error)


def view_of(*items: discord.ui.Item[Any], disabled: bool = False) -> discord.ui.View:
    """A persistent view (no timeout) holding these items."""
    view = discord.ui.View(timeout=None)
    for item in items:
        if disabled and isinstance(item, PersistentButton):
            item.item.disabled = True
        view.add_item(item)
    return view


async def require_manager(interaction: discord.Interaction[Any]) -> bool:
    """An ``app_commands`` check: true for managers, NotManager (one sentence) otherwise."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    member = interaction.user
    if not isinstance(member, discord.Member):
        raise errors.NotManager()
    permissions = member.guild_permissions
    if not await services_of(interaction).guild_settings.is_manager(
        member.guild.id,
        manages_server=permissions.manage_guild or permissions.administrator,
        role_ids=(role.id for role in member.roles),
    ):
        raise errors.NotManager()
    return True


def manager_only() -> Any:
    return app_commands.check(require_manager)


def is_manager_command(command: object) -> bool:
    """Whether ``command`` is for managers: in a :class:`ManagerCog` or checked by
    :func:`manager_only`."""
    if not isinstance(command, app_commands.Command):
        return False
    return isinstance(command.binding, ManagerCog) or require_manager in command.checks


async def may_autocomplete(interaction: discord.Interaction[Any]) -> bool:
    """discord.py runs no command check before an autocomplete: without this a member could
    read a manager command's suggestions (unposted announcements, shop products) by typing
    into an option of a command their client hides. Not a manager: an empty list."""
    if not is_manager_command(interaction.command):
        return True
    try:
        return await require_manager(interaction)
    except app_commands.AppCommandError:
        await interaction.response.autocomplete([])
        return False


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ManagerCog(commands.GroupCog):
    """A command group for managers: hidden by default permissions, checked on every call."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # Discord's default permissions only hide the command; check on every call.
        return await require_manager(interaction)


async def channel_or_default(
    interaction: discord.Interaction[Any], channel: discord.TextChannel | None, question: str
) -> discord.TextChannel | discord.PartialMessageable:
    """The channel a manager picked, or the server's announce channel; ``question`` (one
    sentence, "Where should I …?") when there is neither."""
    if channel is not None:
        return channel
    settings = await services_of(interaction).guild_settings.get(guild_id_of(interaction))
    if settings.announce_channel_id is None:
        raise errors.UserError(
            f"{question} Pick a channel, or set a default with /dropbell setup announce_channel."
        )
    return interaction.client.get_partial_messageable(
        settings.announce_channel_id, guild_id=interaction.guild_id
    )
