"""Modals as Discord has them: the MODAL response is checked (title, rows, text inputs and
their limits), and a member submits it once, within its fields' lengths."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from sandbox import SandboxError

from .conftest import World


class Survey(discord.ui.Modal, title="Tell us"):
    name: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Name", min_length=2, max_length=10, default="Moth"
    )
    note: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Note", required=False, style=discord.TextStyle.paragraph
    )

    def __init__(self, outcomes: Any, title: str = "Tell us") -> None:
        super().__init__(custom_id="survey", title=title)
        self.outcomes = outcomes

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.outcomes.put_nowait((self.name.value, self.note.value))
        await interaction.response.send_message(f"thanks {self.name.value}", ephemeral=True)


async def test_a_modal_is_submitted_with_its_values_once(world: World) -> None:
    sb, bot = world.sb, world.bot
    fan = world.seed.fans[0]

    async def script(interaction: discord.Interaction) -> Any:
        await interaction.response.send_modal(Survey(bot.outcomes))
        return "shown"

    bot.script = script
    shown = await sb.slash(fan, "script")
    assert await bot.outcome() == "shown"
    assert shown.modal is not None and shown.modal["title"] == "Tell us"
    # The client refuses what Discord's form refuses: nothing reaches the bot.
    name_id = shown.modal["components"][0]["components"][0]["custom_id"]
    with pytest.raises(SandboxError, match="takes 2 to 10 characters"):
        await sb.submit_modal(fan, shown, {name_id: "x" * 11})
    with pytest.raises(SandboxError, match="required"):
        await sb.submit_modal(fan, shown, {name_id: ""})
    with pytest.raises(SandboxError, match="only to the member who opened it"):
        await sb.submit_modal(world.seed.fans[1], shown)
    # Left out, a field keeps its prefilled value; an optional one is sent empty.
    answer = await sb.submit_modal(fan, shown)
    assert await bot.outcome() == ("Moth", "")
    assert answer.content == "thanks Moth" and answer.ephemeral
    with pytest.raises(SandboxError, match="already submitted"):
        await sb.submit_modal(fan, shown)


async def test_a_modal_over_discords_limits_is_refused(world: World) -> None:
    sb, bot = world.sb, world.bot

    async def script(interaction: discord.Interaction) -> Any:
        try:
            await interaction.response.send_modal(Survey(bot.outcomes, title="T" * 46))
        except discord.HTTPException as error:
            return error.status, error.code, error.text
        return None

    bot.script = script
    with pytest.raises(TimeoutError):
        await sb.slash(world.seed.fans[0], "script", timeout=1.0)
    status, code, text = await bot.outcome()
    assert (status, code) == (400, 50035)
    assert "title" in text
