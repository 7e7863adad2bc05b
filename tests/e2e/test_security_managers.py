"""Every manager command, autocomplete, button and modal refuses a plain member who calls it
directly, as a crafted API call would (default permissions only hide a command in the client):
one ephemeral sentence, no row written, nothing posted. The commands are found by walking the
bot's command tree, the buttons by walking its registered dynamic items, so a new one is
probed (or must be classified) without anyone remembering this file."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot import errors
from bot.bot import Dropbell
from cogs.collectors.profile import VisibilityButton
from cogs.drops.buttons import ClaimButton, JoinButton, RemindButton
from cogs.polls.buttons import CommitButton, OptionButton, PollDropButton, WithdrawButton
from cogs.privacy import ForgetButton, KeepButton
from cogs.schedule.buttons import AnnounceDecision, StopRemindersButton
from sandbox import Message, Sandbox
from sandbox.models import Member, Role
from tests.e2e.poll_support import berlin_in, create_poll, poll_id_of
from tests.e2e.security_support import (
    fill_options,
    leaf_commands,
    looks_like_a_manager_command,
    schema_of,
    snapshot,
)
from tests.harness import Community, InProcessBot, create_drop, drop_id_of

REFUSAL = errors.sentence_for(errors.NotManager())

# Commands with no sign of being for managers, each a fan's by design. A new command that is
# neither here nor manager-marked fails the walk until someone decides which it is.
FAN_COMMANDS = {
    "dropbell about",
    "waitlist join",
    "waitlist leave",
    "waitlist status",
    "collector profile",
    "privacy export",
    "privacy forget",
}
# Every registered button, by who may press it. Fan buttons act only on the presser's own
# data (their entry, their commitment, their profile) or carry the presser's id and check it.
MANAGER_BUTTONS = {AnnounceDecision, PollDropButton}
FAN_BUTTONS = {
    JoinButton, RemindButton, ClaimButton, StopRemindersButton, OptionButton, CommitButton,
    WithdrawButton, ForgetButton, KeepButton, VisibilityButton,
}  # fmt: skip


class Probe:
    """The manager's world (a drop, a poll, an announcement draft, a tier) and a fan who
    tries everything a manager can do."""

    def __init__(self, sb: Sandbox, community: Community, bot: Dropbell) -> None:
        self.sb, self.community, self.bot = sb, community, bot
        self.fan: Member = community.fans[0]
        self.problems: list[str] = []
        self.probed: set[str] = set()

    async def prepare(self) -> None:
        sb, community = self.sb, self.community
        sb.relax("channel_send_limit", reason="a drop, a poll and its results in one channel")
        self.role: Role = sb.create_role(community.guild.id, "Gold")
        drop = drop_id_of(await create_drop(sb, community))
        self.poll_post = await create_poll(sb, community)
        poll = poll_id_of(self.poll_post)
        preview = await sb.slash(
            community.manager,
            "announce schedule",
            {"channel": community.drops, "message": "Soon!", "at": berlin_in(timedelta(days=1)),
             "timezone": "Europe/Berlin"},
        )  # fmt: skip
        assert preview.message is not None, preview
        self.preview = preview.message
        await sb.slash(community.manager, "collector tier-set", {"name": "Gold", "role": self.role,
                       "min_purchases": 1})  # fmt: skip
        self.ids: dict[str, Any] = {"drop": str(drop), "poll": str(poll), "name": "Gold"}

    async def refused(self, what: str, answer: Any, before: Any) -> None:
        self.probed.add(what)
        # A deferred answer: wait for what the member finally reads (and the work behind it).
        await answer.wait_final()
        said = answer.followups[-1] if answer.followups else answer.message
        text = said.content if said is not None else ""
        ephemeral = said is not None and said.ephemeral
        after = await snapshot(self.sb, self.bot)
        if text != REFUSAL or not ephemeral:
            self.problems.append(f"{what}: answered {text!r} (ephemeral={ephemeral})")
        if after != before:
            self.problems.append(f"{what}: changed rows or posted ({before} -> {after})")

    async def commands(self) -> None:
        guild_id = self.community.guild.id
        for command in leaf_commands(self.bot):
            name = command.qualified_name
            if not looks_like_a_manager_command(command):
                if name not in FAN_COMMANDS:
                    self.problems.append(f"/{name}: neither manager-marked nor a fan command")
                continue
            schema = schema_of(self.sb, guild_id, name)
            options = fill_options(schema, self.community, self.ids, self.role)
            before = await snapshot(self.sb, self.bot)
            answer = await self.sb.slash(self.fan, name, options)
            await self.refused(f"/{name}", answer, before)
            for option in schema.get("options") or []:
                if option.get("autocomplete"):
                    await self.autocomplete(name, options, option["name"])

    async def autocomplete(self, name: str, options: dict[str, Any], focused: str) -> None:
        what = f"/{name} {focused} (autocomplete)"
        self.probed.add(what)
        typed = {**options, focused: ""}
        choices = await self.sb.autocomplete(self.fan, name, typed, focused=focused)
        if choices:
            self.problems.append(f"{what}: a member was shown {choices!r}")

    async def buttons(self) -> None:
        # By name: an extension's own module is loaded afresh, so its classes are new objects.
        registered = {
            cls.__name__ for cls in self.bot._connection._view_store._dynamic_items.values()
        }
        unclassified = registered - {cls.__name__ for cls in MANAGER_BUTTONS | FAN_BUTTONS}
        if unclassified:
            self.problems.append(f"buttons neither manager nor fan: {unclassified}")
        poll = self.ids["poll"]
        closing = await self.sb.slash(self.community.manager, "poll close", {"poll": poll})
        offer = await closing.wait_followup()
        presses = {
            AnnounceDecision: [(self.preview, cid) for cid in self.preview.custom_ids()],
            PollDropButton: [(offer, f"dropbell:polldrop:{poll}")],
        }
        for button in MANAGER_BUTTONS:
            assert presses.get(button), f"no press prepared for {button.__name__}"
            for message, custom_id in presses[button]:
                before = await snapshot(self.sb, self.bot)
                answer = await self.sb.click(self.fan, message, custom_id)
                await self.refused(custom_id, answer, before)
        await self.modal(offer, f"dropbell:polldrop:{poll}")

    async def modal(self, offer: Message, custom_id: str) -> None:
        """A manager opens Create drop from this poll, loses the role, then submits."""
        community = self.community
        shown = await self.sb.click(community.manager, offer, custom_id)
        assert shown.modal is not None, shown
        community.manager.roles.remove(community.manager_role.id)
        try:
            before = await snapshot(self.sb, self.bot)
            opens_at = next(
                comp["custom_id"]
                for row in shown.modal["components"]
                for comp in row["components"]
                if comp["label"].startswith("Opens at")
            )
            filled = {opens_at: berlin_in(timedelta(days=5))}
            answer = await self.sb.submit_modal(community.manager, shown, filled)
            await self.refused("Create drop from this poll (modal)", answer, before)
        finally:
            community.manager.roles.append(community.manager_role.id)


async def probe(sb: Sandbox, community: Community, bot: Dropbell) -> Probe:
    found = Probe(sb, community, bot)
    await found.prepare()
    await found.commands()
    await found.buttons()
    return found


async def test_every_manager_surface_refuses_a_member(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    found = await probe(sandbox, community, bot)
    assert found.problems == [], "\n".join(found.problems)
    # The walk found the known surface (and so would find a new one beside it).
    assert {"/drop create", "/poll close", "/announce cancel", "/insights", "/dropbell setup",
            "/collector tier-set", "/drop export", "/announce cancel announcement (autocomplete)",
            "Create drop from this poll (modal)"} <= found.probed  # fmt: skip
    assert len(found.probed) > 20


async def test_the_walk_catches_a_new_unchecked_manager_command(
    sandbox: Sandbox, community: Community, bot_runner: InProcessBot
) -> None:
    bot = await bot_runner.start(extra_extensions=["tests.support.unchecked_manager"])
    found = await probe(sandbox, community, bot)
    assert "/sneaky" in found.probed
    assert [p for p in found.problems if p.startswith("/sneaky: answered 'Posted.'")]
    assert [p for p in found.problems if p.startswith("/sneaky: changed rows or posted")]
    assert all(p.startswith("/sneaky") for p in found.problems), found.problems
