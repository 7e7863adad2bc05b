"""Discord's form limits on every route that creates or edits a message, answered as 400 /
50035 with the offending path, through a bare discord.py bot."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.http import Route

from .barebot import BareBot, ScriptButton
from .conftest import World

BUTTON = {"type": 2, "style": 1, "label": "go", "custom_id": "a"}


def row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def button(custom_id: str, **extra: Any) -> dict[str, Any]:
    return {**BUTTON, "custom_id": custom_id, **extra}


def select(custom_id: str, options: int) -> dict[str, Any]:
    opts = [{"label": f"o{i}", "value": f"v{i}"} for i in range(options)]
    return {"type": 3, "custom_id": custom_id, "options": opts}


def embed(**fields: Any) -> dict[str, Any]:
    return {"title": "t", **fields}


INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("content", {"content": "x" * 2001}, "In content: Must be 2000 or fewer"),
    ("embed count", {"embeds": [embed() for _ in range(11)]}, "In embeds: Must be 10 or fewer"),
    ("title", {"embeds": [embed(title="x" * 257)]}, "In embeds.0.title"),
    ("description", {"embeds": [embed(description="x" * 4097)]}, "In embeds.0.description"),
    ("field count", {"embeds": [embed(fields=[{"name": "n", "value": "v"}] * 26)]},
     "In embeds.0.fields: Must be 25 or fewer"),
    ("field name", {"embeds": [embed(fields=[{"name": "n" * 257, "value": "v"}])]},
     "In embeds.0.fields.0.name"),
    ("field value", {"embeds": [embed(fields=[{"name": "n", "value": "v" * 1025}])]},
     "In embeds.0.fields.0.value"),
    ("empty field value", {"embeds": [embed(fields=[{"name": "n", "value": ""}])]},
     "In embeds.0.fields.0.value: This field is required"),
    ("footer", {"embeds": [embed(footer={"text": "f" * 2049})]}, "In embeds.0.footer.text"),
    ("author", {"embeds": [embed(author={"name": "a" * 257})]}, "In embeds.0.author.name"),
    ("embed total", {"embeds": [embed(description="d" * 4000), embed(description="d" * 2001)]},
     "Embed size exceeds maximum size of 6000"),
    ("six rows", {"components": [row(button(f"b{i}")) for i in range(6)]},
     "In components: Must be 5 or fewer"),
    ("six buttons", {"components": [row(*(button(f"b{i}") for i in range(6)))]},
     "In components.0.components: Must be between 1 and 5"),
    ("select with a button", {"components": [row(select("s", 2), button("b"))]},
     "exceeds the maximum width"),
    ("26 options", {"components": [row(select("s", 26))]}, "components.0.components.0.options"),
    ("custom_id length", {"components": [row(button("c" * 101))]},
     "In components.0.components.0.custom_id: Must be 100 or fewer"),
    ("duplicate custom_id", {"components": [row(button("same")), row(button("same"))]},
     "Component custom id cannot be duplicated"),
    ("label length", {"components": [row(button("b", label="l" * 81))]},
     "In components.0.components.0.label: Must be 80 or fewer"),
    ("link with custom_id", {"components": [row(button("b", style=5, url="https://x.test"))]},
     "cannot be specified for a link button"),
    ("link without url", {"components": [row({"type": 2, "style": 5, "label": "l"})]},
     "A url is required"),
    ("button without custom_id", {"components": [row({"type": 2, "style": 1, "label": "l"})]},
     "A custom id is required"),
    ("parse roles and roles", {"content": "hi", "allowed_mentions": {"parse": ["roles"],
     "roles": ["1"]}}, 'parse:["roles"] and roles: [ids] are mutually exclusive'),
    ("parse users and users", {"content": "hi", "allowed_mentions": {"parse": ["users"],
     "users": ["1"]}}, 'parse:["users"] and users: [ids] are mutually exclusive'),
]  # fmt: skip


async def raw_send(bot: BareBot, channel_id: int, payload: dict[str, Any]) -> Any:
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
    return await bot.http.request(route, json=payload)


@pytest.mark.parametrize(
    ("case", "payload", "expected"), INVALID_BODIES, ids=[c[0] for c in INVALID_BODIES]
)
async def test_invalid_message_bodies_are_refused_with_the_path(
    world: World, case: str, payload: dict[str, Any], expected: str
) -> None:
    world.sb.relax("channel_send_limit", reason="many sends to one channel; not what is tested")
    with pytest.raises(discord.HTTPException) as caught:
        await raw_send(world.bot, world.seed.drops.id, payload)
    assert caught.value.status == 400 and caught.value.code == 50035
    assert expected in caught.value.text
    assert world.sb.messages(world.seed.drops.id) == []


async def test_limits_exactly_at_the_edge_are_accepted(world: World) -> None:
    fields = [{"name": "n" * 256, "value": "v" * 10} for _ in range(2)]
    payload = {
        "content": "x" * 2000,
        "embeds": [embed(title="t" * 256, fields=fields, footer={"text": "f" * 100})],
        "components": [row(*(button(f"r{r}b{i}", label="l" * 80) for i in range(5)))
                       for r in range(4)] + [row(select("s", 25))],
        "allowed_mentions": {"parse": ["users"], "roles": ["1"]},
    }  # fmt: skip
    await raw_send(world.bot, world.seed.drops.id, payload)
    assert len(world.sb.messages(world.seed.drops.id)) == 1


async def test_channel_edit_is_validated(world: World) -> None:
    sent = await world.bot.get_partial_messageable(world.seed.drops.id).send("fine")
    with pytest.raises(discord.HTTPException, match=r"In embeds\.0\.title") as caught:
        await sent.edit(embed=discord.Embed(title="x" * 257))
    assert caught.value.code == 50035
    assert world.sb.messages(world.seed.drops.id)[0].embeds == []


async def test_interaction_routes_are_validated(world: World) -> None:
    """Callback type 4, followup create and edit, and @original edit all check the body."""
    sb, bot, fan = world.sb, world.bot, world.seed.fans[0]
    too_long = "x" * 2001

    async def script(interaction: discord.Interaction) -> list[int]:
        codes = []
        try:
            await interaction.response.send_message(too_long)
        except discord.HTTPException as exc:
            codes.append(exc.code)
        await interaction.response.send_message("ok")
        for attempt in (
            lambda: interaction.followup.send(embed=discord.Embed(title="x" * 257)),
            lambda: interaction.edit_original_response(content=too_long),
        ):
            try:
                await attempt()
            except discord.HTTPException as exc:
                codes.append(exc.code)
        followup = await interaction.followup.send("second", wait=True)
        try:
            await followup.edit(content=too_long)
        except discord.HTTPException as exc:
            codes.append(exc.code)
        return codes

    bot.script = script
    res = await sb.slash(fan, "script")
    assert await bot.outcome() == [50035, 50035, 50035, 50035]
    assert res.content == "ok" and [m.content for m in res.followups] == ["second"]


async def test_component_update_callback_is_validated(world: World) -> None:
    """Callback type 7 (edit the clicked message) checks the body too."""
    sb, bot, seed = world.sb, world.bot, world.seed
    view = discord.ui.View()
    view.add_item(ScriptButton("edit"))
    posted = await bot.get_partial_messageable(seed.drops.id).send("press", view=view)

    async def script(interaction: discord.Interaction) -> int:
        try:
            await interaction.response.edit_message(content="x" * 2001)
        except discord.HTTPException as exc:
            await interaction.response.edit_message(content="edited")
            return exc.code or 0
        return 0

    bot.script = script
    res = await sb.click(seed.fans[0], posted.id, "script:edit")
    assert await bot.outcome() == 50035
    assert res.response_type == 7 and res.content == "edited"


async def test_relaxed_validation_lets_long_content_through(world: World) -> None:
    world.sb.relax("message_validation", reason="this test checks the relaxation itself")
    await raw_send(world.bot, world.seed.drops.id, {"content": "x" * 2500})
    assert world.sb.relaxed == {"message_validation": "this test checks the relaxation itself"}
    with pytest.raises(ValueError, match="needs a reason"):
        world.sb.relax("dm_open_pacing", reason=" ")
    with pytest.raises(ValueError, match="no rule"):
        world.sb.relax("no_such_rule", reason="typo")
