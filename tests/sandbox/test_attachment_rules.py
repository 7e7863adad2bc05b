"""Discord's upload limit: a request whose files add up to more than the interaction's
``attachment_size_limit`` is refused with 413 / 40005 and stores nothing, through a bare
discord.py bot."""

from __future__ import annotations

import io

import discord
import pytest

from sandbox.models import ATTACHMENT_SIZE_LIMIT

from .conftest import World


def file_of(size: int, name: str = "data.json") -> discord.File:
    return discord.File(io.BytesIO(b"x" * size), filename=name)


async def test_a_message_over_the_upload_limit_is_refused(world: World) -> None:
    channel = world.bot.get_partial_messageable(world.seed.drops.id)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("too big", file=file_of(ATTACHMENT_SIZE_LIMIT + 1))
    assert (caught.value.status, caught.value.code) == (413, 40005)
    # Two files that only together pass the limit: it is the request that counts.
    half = ATTACHMENT_SIZE_LIMIT // 2 + 1
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("too big", files=[file_of(half, "a"), file_of(half, "b")])
    assert caught.value.status == 413
    assert world.sb.messages(world.seed.drops.id) == []
    await channel.send("at the limit", file=file_of(ATTACHMENT_SIZE_LIMIT))
    [stored] = world.sb.messages(world.seed.drops.id)
    assert len(stored.attachments[0].data) == ATTACHMENT_SIZE_LIMIT


async def test_an_interaction_answer_over_the_limit_is_refused(world: World) -> None:
    sb, bot, fan = world.sb, world.bot, world.seed.fans[0]

    async def script(interaction: discord.Interaction) -> tuple[int, int]:
        try:
            await interaction.response.send_message(
                file=file_of(interaction.filesize_limit + 1), ephemeral=True
            )
        except discord.HTTPException as exc:
            await interaction.response.send_message(file=file_of(10), ephemeral=True)
            return interaction.filesize_limit, exc.code or 0
        return interaction.filesize_limit, 0

    bot.script = script
    answer = await sb.slash(fan, "script")
    assert await bot.outcome() == (ATTACHMENT_SIZE_LIMIT, 40005)
    assert [len(data) for _, data, _ in answer.attachments] == [10]


async def test_a_lower_limit_is_told_and_enforced(world: World) -> None:
    """A server without boosts has a lower limit: the payload says it and uploads obey it."""
    sb, bot, fan = world.sb, world.bot, world.seed.fans[0]
    sb.world.attachment_size_limit = 1000

    async def script(interaction: discord.Interaction) -> tuple[int, int]:
        try:
            await interaction.response.send_message(file=file_of(1001))
        except discord.HTTPException as exc:
            await interaction.response.send_message(file=file_of(1000))
            return interaction.filesize_limit, exc.code or 0
        return interaction.filesize_limit, 0

    bot.script = script
    answer = await sb.slash(fan, "script")
    assert await bot.outcome() == (1000, 40005)
    assert [len(data) for _, data, _ in answer.attachments] == [1000]
