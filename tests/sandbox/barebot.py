"""A bare discord.py bot used to test the sandbox (no dropbell code involved)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

BUTTON_LABEL = "Join the waitlist"
FILE_BYTES = b"night moth tee\n" * 10


class JoinButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"dropbell:join:(?P<id>\d+)"
):
    """A persistent button: the drop id lives in the custom_id, so it survives restarts."""

    def __init__(self, drop_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=BUTTON_LABEL,
                style=discord.ButtonStyle.primary,
                custom_id=f"dropbell:join:{drop_id}",
            )
        )
        self.drop_id = drop_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JoinButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"{interaction.user.name} joined drop {self.drop_id}", ephemeral=True
        )


Script = Callable[[discord.Interaction], Awaitable[Any]]


class ScriptButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"script:(?P<n>\w+)"):
    """A button whose press runs the test's script (see ``BareBot.run_script``)."""

    def __init__(self, name: str = "go", *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(label=name, custom_id=f"script:{name}", disabled=disabled)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ScriptButton:
        return cls(match["n"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await run_script(interaction)


async def run_script(interaction: discord.Interaction) -> None:
    """Run the test's script with real discord.py calls; keep what it returned or raised."""
    bot = interaction.client
    assert isinstance(bot, BareBot) and bot.script is not None
    try:
        bot.outcomes.put_nowait(await bot.script(interaction))
    except Exception as exc:  # the test inspects it
        bot.outcomes.put_nowait(exc)


waitlist = app_commands.Group(name="waitlist", description="Join or leave a drop's waitlist")
DROPS = ["Night Moth Tee", "Night Moth Hoodie", "Luna Cap"]


@waitlist.command(name="join", description="Join a drop's waitlist")
@app_commands.describe(drop="The drop", note="Anything to add")
async def waitlist_join(
    interaction: discord.Interaction,
    drop: str,
    note: app_commands.Range[str, 2, 20] | None = None,
) -> None:
    await interaction.response.send_message(f"joined {drop} note={note}", ephemeral=True)


@waitlist_join.autocomplete("drop")
async def drop_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=d, value=d) for d in DROPS if current.lower() in d.lower()]


@waitlist.command(name="typed", description="Echo typed options")
async def waitlist_typed(
    interaction: discord.Interaction,
    count: app_commands.Range[int, 1, 10],
    ratio: float,
    flag: bool,
    member: discord.Member,
    channel: discord.TextChannel,
    role: discord.Role,
) -> None:
    parts = [
        f"count={count!r}:{type(count).__name__}",
        f"ratio={ratio!r}:{type(ratio).__name__}",
        f"flag={flag!r}",
        f"member={member.name}:{type(member).__name__}",
        f"created={member.created_at.date().isoformat()}",
        f"channel={channel.name}:{type(channel).__name__}",
        f"role={role.name}:{type(role).__name__}",
    ]
    await interaction.response.send_message(" ".join(parts))


class BareBot(commands.Bot):
    def __init__(self, guild_id: int, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            **options,
        )
        self.guild_id = guild_id
        self.events: list[str] = []
        self.script: Script | None = None
        self.outcomes: asyncio.Queue[Any] = asyncio.Queue()

    async def outcome(self, timeout: float = 5.0) -> Any:
        """What the script returned (or the exception it raised)."""
        return await asyncio.wait_for(self.outcomes.get(), timeout)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JoinButton, ScriptButton)
        self.tree.add_command(waitlist)
        for cmd in _commands():
            self.tree.add_command(cmd)
        self.tree.add_command(_manager_only(), guild=discord.Object(self.guild_id))
        await self.tree.sync()
        await self.tree.sync(guild=discord.Object(self.guild_id))

    async def on_resumed(self) -> None:
        self.events.append("resumed")


def _manager_only() -> app_commands.Command[Any, Any, Any]:
    @app_commands.command(name="setup", description="Manager-only setup")
    @app_commands.default_permissions(manage_guild=True)
    async def setup(interaction: discord.Interaction) -> None:
        perms = interaction.permissions
        await interaction.response.send_message(
            f"manage_guild={perms.manage_guild}", ephemeral=True
        )

    return setup


def _commands() -> list[app_commands.Command[Any, Any, Any]]:
    @app_commands.command(name="ping", description="Answers pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    @app_commands.command(name="secret", description="Answers ephemerally")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("shh", ephemeral=True)

    @app_commands.command(name="post-button", description="Posts a drop with a join button")
    async def post_button(interaction: discord.Interaction, drop_id: int) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(JoinButton(drop_id))
        await interaction.response.send_message(f"Drop {drop_id} is coming", view=view)

    @app_commands.command(name="slow", description="Defers, then edits")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await interaction.edit_original_response(
            content="done", embed=discord.Embed(title="Result", description="all good")
        )

    @app_commands.command(name="multi", description="Answers, then a followup")
    async def multi(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")
        await interaction.followup.send("second", ephemeral=True)

    @app_commands.command(name="dm-me", description="DMs the invoker")
    async def dm_me(interaction: discord.Interaction) -> None:
        try:
            await interaction.user.send("hello in your DMs")
        except discord.Forbidden as exc:
            await interaction.response.send_message(f"forbidden {exc.code}", ephemeral=True)
        else:
            await interaction.response.send_message("sent", ephemeral=True)

    @app_commands.command(name="file", description="Posts a file")
    async def file(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "here", file=discord.File(io.BytesIO(FILE_BYTES), filename="moth.txt")
        )

    @app_commands.command(name="upload", description="Reads an uploaded image")
    async def upload(interaction: discord.Interaction, image: discord.Attachment) -> None:
        data = await image.read()
        await interaction.response.send_message(
            f"{image.filename} {image.content_type} {len(data)} {data[:4]!r}", ephemeral=True
        )

    @app_commands.command(name="announce", description="Pings a role in a channel")
    async def announce(interaction: discord.Interaction, role: discord.Role) -> None:
        assert isinstance(interaction.channel, discord.TextChannel)
        await interaction.channel.send(
            f"{role.mention} the drop is open",
            allowed_mentions=discord.AllowedMentions(roles=[role]),
        )
        await interaction.response.send_message("announced", ephemeral=True)

    @app_commands.command(name="event", description="Creates a scheduled event")
    async def event(interaction: discord.Interaction, name: str) -> None:
        assert interaction.guild is not None
        start = discord.utils.utcnow() + dt.timedelta(days=2)
        try:
            created = await interaction.guild.create_scheduled_event(
                name=name,
                start_time=start,
                end_time=start + dt.timedelta(hours=1),
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only,
                location="Online shop",
            )
        except discord.Forbidden as exc:
            await interaction.response.send_message(f"forbidden {exc.code}", ephemeral=True)
        else:
            await interaction.response.send_message(f"event {created.id}", ephemeral=True)

    @app_commands.command(name="script", description="Runs the test's script")
    async def script(interaction: discord.Interaction) -> None:
        await run_script(interaction)

    return [ping, secret, post_button, slow, multi, dm_me, file, upload, announce, event, script]
