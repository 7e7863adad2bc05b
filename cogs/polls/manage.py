"""``/poll create | close | results`` (managers' side)."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import UserError
from bot.ui import ManagerCog, channel_or_default, guild_id_of, services_of, view_of
from cogs._options import timezone_autocomplete
from cogs._post_refresher import PostRefresher
from cogs.polls.buttons import PollDropButton
from cogs.polls.render import render_embed, render_view, rendered
from services.localtime import discord_timestamp, utcnow
from services.polls.chart import render_chart
from services.polls.export import results_csv
from services.polls.wording import closed_sentence, results_lines, total_units
from services.text import fit_lines

if TYPE_CHECKING:
    from bot.bot import Dropbell

Question = app_commands.Range[str, 1, 200]
OptionsText = app_commands.Range[str, 1, 1000]
WallClock = app_commands.Range[str, 1, 40]
ZoneName = app_commands.Range[str, 1, 64]
PollChoice = app_commands.Range[str, 1, 100]


async def poll_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """This server's polls, open ones first; the value is the poll id."""
    if interaction.guild_id is None:
        return []
    found = await services_of(interaction).polls.suggest(interaction.guild_id, current)
    return [
        app_commands.Choice(name=f"{poll.question[:80]} · {poll.status}", value=str(poll.id))
        for poll in found
    ]


class PollCommands(ManagerCog, group_name="poll", group_description="Pre-order polls"):
    def __init__(self, bot: Dropbell, refresher: PostRefresher) -> None:
        self.bot = bot
        self.refresher = refresher

    @app_commands.command(name="create", description="Ask which variant fans would buy")
    @app_commands.describe(
        question="What you ask, such as: Which colour should the winter tee be?",
        options="2 to 10 options as Name @ price, separated by ; (price optional)",
        goal="Total units that make it worth producing",
        closes_at="Closing time as YYYY-MM-DD HH:MM (24 h) in the time zone below",
        timezone="IANA time zone, such as Europe/Berlin",
        channel="Where to post it (default: the announce channel from /dropbell setup)",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def create(
        self,
        interaction: discord.Interaction[Dropbell],
        question: Question,
        options: OptionsText,
        goal: int,
        closes_at: WallClock,
        timezone: ZoneName,
        channel: discord.TextChannel | None = None,
    ) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = await channel_or_default(interaction, channel, "Where should I post the poll?")
        polls = services_of(interaction).polls
        poll, choices = await polls.create(
            guild_id,
            interaction.user.id,
            target.id,
            question=question,
            options=options,
            goal=goal,
            closes_at=closes_at,
            timezone=timezone,
        )
        try:
            message = await target.send(
                embed=render_embed(poll, choices, polls.currency),
                view=render_view(poll, choices, polls.currency),
            )
        except discord.HTTPException as error:
            await polls.delete(poll.id)
            raise UserError(
                f"I couldn't post in <#{target.id}> ({error.text or error.status}); give me "
                "Send Messages and Embed Links there, then try again. Nothing was created."
            ) from error
        await polls.posted(poll.id, message.id)
        posted = await polls.get(guild_id, poll.id)
        now_shown = rendered(posted, choices, polls.currency)
        if now_shown is not None:
            self.refresher.posted(poll.id, now_shown)
        await interaction.followup.send(
            f"The poll **{poll.question}** is up in <#{target.id}>: goal {poll.goal:,} units, "
            f"closes {discord_timestamp(poll.closes_at, 'F')}.",
            ephemeral=True,
        )

    @app_commands.command(name="close", description="Close a poll now and post its results")
    @app_commands.describe(poll="The poll to close")
    @app_commands.autocomplete(poll=poll_autocomplete)
    async def close(self, interaction: discord.Interaction[Dropbell], poll: PollChoice) -> None:
        polls = services_of(interaction).polls
        found = await polls.resolve(guild_id_of(interaction), poll)
        if not found.is_open:
            raise UserError(closed_sentence(found))  # answered at once, nothing to wait for
        # Closing posts the results: more than Discord's 3 seconds on a busy day.
        await interaction.response.defer(ephemeral=True, thinking=True)
        closed = await polls.close(found.guild_id, found.id)
        await interaction.followup.send(
            f"**{closed.question}** is closed and its results are posted in "
            f"<#{closed.channel_id}>. Make its drop now: the waitlist starts with the fans who "
            "committed, in order of first commitment.",
            view=view_of(PollDropButton(poll_id=closed.id)),
            ephemeral=True,
        )

    @app_commands.command(name="results", description="A poll's results, chart and CSV")
    @app_commands.describe(poll="The poll")
    @app_commands.autocomplete(poll=poll_autocomplete)
    async def results(self, interaction: discord.Interaction[Dropbell], poll: PollChoice) -> None:
        polls = services_of(interaction).polls
        found = await polls.resolve(guild_id_of(interaction), poll)
        await interaction.response.defer(ephemeral=True, thinking=True)
        results = await polls.results(found.guild_id, found.id)
        until = results.poll.closed_at or min(utcnow(), results.poll.closes_at)
        # matplotlib is CPU work: off the event loop, so presses keep being answered.
        chart = await asyncio.to_thread(
            render_chart, results.poll, results.options, results.history, until
        )
        units = total_units(results.options)
        head = (
            f"📊 **{results.poll.question}** ({results.poll.status}) — {units:,} of "
            f"{results.poll.goal:,} units committed."
        )
        text = fit_lines(results_lines(results.poll, results.options, polls.currency), head=head)
        await interaction.followup.send(
            text,
            files=[
                discord.File(io.BytesIO(chart.png), filename=f"poll-{found.id}.png"),
                discord.File(
                    io.BytesIO(results_csv(results.options, results.commitments)),
                    filename=f"poll-{found.id}.csv",
                ),
            ],
            ephemeral=True,
        )
