"""The demo's drop day: a raffle sold through the sandbox shop, from the draw to the tally.

What happens here is what happens on a real drop day, with time compressed by configuration
(a hold of a few seconds, ``drops.hold_minutes``), never by sleeps: the raffle's commitment on
the announcement, fans entering through the Join button, the seed in the opening post, anyone's
re-run of the draw, Get my link, payments arriving as signed webhooks at the bot's own web
listener, holds that end unpaid and pass their units to the reserves in draw order, a refund,
and the tally. The demo reads state only to know when to go on; every check it prints is made
on what fans, managers and the shop see.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.bot import Dropbell
from bot.demo_dropday_checks import rerun_from_post, tally
from bot.demo_dropday_plan import (
    HOLD_SECONDS,
    PRODUCT_ID,
    PRODUCT_NAME,
    SHOP_NAME,
    Plan,
    claim_post,
    entry_count,
    plan_for,
    reserve_number,
    reserves_text,
    units_for,
    until,
)
from bot.demo_output import CONCURRENCY, VIEWER_ZONE, Printer, bounded, link_of
from sandbox import InteractionResult, Message, Sandbox
from sandbox.results import message_text
from sandbox.shop import Delivery, SandboxShop
from services.dropday.pool import margin
from services.text import plural
from storage.holds import ClaimCounts


class DropDay:
    """The drop-day part of the demo, step by step; ``run`` returns the summary lines."""

    def __init__(
        self,
        sb: Sandbox,
        seed: Any,
        bot: Dropbell,
        shop: SandboxShop,
        reminded: list[Any],
        closed: Any | None,
        newcomer: Any,
        out: Printer,
    ) -> None:
        self.sb, self.seed, self.bot, self.shop, self.out = sb, seed, bot, shop, out
        self.reminded, self.closed, self.newcomer = reminded, closed, newcomer
        self.fans = seed.fans
        self.by_id = {fan.id: fan for fan in self.fans}
        self.stock = units_for(len(self.fans))
        self.drop_id = 0
        self.links: dict[int, str] = {}  # fan id -> their purchase link
        self.answers: dict[int, InteractionResult] = {}  # fan id -> their latest claim answer
        self.buyers: list[Any] = []  # who bought, once the day is over (refunds left out)

    async def run(self) -> list[str]:
        started = time.perf_counter()
        announcement, commitment = await self._create()
        await self._enter(announcement)
        post = await self._open()
        manager = self.seed.manager
        order = await rerun_from_post(
            self.sb, manager, post, commitment, self.by_id, self.stock, self.out
        )
        plan = plan_for([self.by_id[user] for user in order], self.stock)
        await self._claims(post, plan)
        await self._raffle_dms(plan)
        await self._pass_to_reserves(post, plan)
        await self._refund(plan)
        self.buyers = [f for f in plan.payers if f is not plan.refunded] + plan.promoted_payers
        counted = await tally(self.sb, manager, self.shop, self.stock, self.out)
        sent = Counter(
            (delivery.event["type"], status)
            for delivery in self.shop.stripe.deliveries
            for _, status in delivery.results
        )
        webhooks = ", ".join(
            f"{count} {kind} → {status}" for (kind, status), count in sorted(sent.items())
        )
        return [
            f"drop day: {plural(len(order), 'entry', 'entries')} for {plural(self.stock, 'unit')}"
            f"; the re-run of the draw from the published seed matches: "
            f"{plural(len(plan.winners), 'winner')}, {plural(len(plan.reserves), 'reserve')} "
            "in order",
            f"tally: {counted}",
            f"signed webhooks from the shop to the bot's listener: {webhooks}",
            f"drop day took {time.perf_counter() - started:.1f}s (holds of {HOLD_SECONDS:g} s)",
        ]

    # --- before opening ---------------------------------------------------------------------

    async def _create(self) -> tuple[Message, str]:
        sb, out, manager = self.sb, self.out, self.seed.manager
        out.heading(f"Drop day: a raffle for {plural(self.stock, 'unit')}, sold through a shop")
        out.say(
            f"    the sandbox shop on {self.shop.base_url} speaks Stripe's API; its webhooks go to "
            f"the bot's listener, http://127.0.0.1:{self.bot.web_port}/webhooks/{SHOP_NAME}"
        )
        out.say(
            f"    holds last {HOLD_SECONDS:g} s here (drops.hold_minutes; 15 minutes by default)"
        )
        # An opening half an hour away: the links are issued before it, off the fans' path.
        opens = datetime.now(ZoneInfo(VIEWER_ZONE)) + timedelta(minutes=30)
        options: dict[str, Any] = {
            "name": PRODUCT_NAME,
            "starts_at": opens.strftime("%Y-%m-%d %H:%M"),
            "timezone": VIEWER_ZONE,
            "stock": self.stock,
            "allocation": "raffle",
            "description": "Heavyweight, embroidered by hand; drawn by raffle among the waitlist.",
        }
        choices = await sb.autocomplete(
            manager, "drop create", {**options, "product": "moth"}, focused="product"
        )
        out.say("manager › /drop create … product: “moth”  [autocomplete from the shop]")
        for choice in choices:
            out.say(f"    {choice['name']}  →  {choice['value']}")
        product = next(c["value"] for c in choices if c["value"] == f"{SHOP_NAME}:{PRODUCT_ID}")
        created = await sb.slash(manager, "drop create", {**options, "product": product})
        out.answer(
            "manager",
            f"/drop create {PRODUCT_NAME} allocation:raffle product:{product}",
            await created.wait_followup(),
        )
        announcement = sb.messages(self.seed.drops.id)[-1]
        out.post("drops", announcement)
        found = re.search(r"commitment: `([0-9a-f]{64})`", message_text(announcement))
        if found is None:
            raise RuntimeError("the raffle's announcement shows no commitment")
        join_id = next(c for c in announcement.custom_ids() if c.startswith("dropbell:join:"))
        self.drop_id = int(join_id.rsplit(":", 1)[1])
        return announcement, found.group(1)

    async def _enter(self, announcement: Message) -> None:
        sb, out, fans = self.sb, self.out, self.fans
        join_id, remind_id = (f"dropbell:{kind}:{self.drop_id}" for kind in ("join", "remind"))
        out.heading(f"{plural(len(fans), 'fan')} enter the raffle ({CONCURRENCY} at a time)")
        entries = await bounded(
            fans,
            lambda fan: sb.click(fan, announcement, join_id, timeout=15),
            lambda done: out.progress("entries", done, len(fans)),
        )
        # The answer that counts everyone: the last entry made.
        last = max(range(len(fans)), key=lambda i: entry_count(entries[i].text))
        out.answer(fans[last].name, "Join waitlist", entries[last])
        # The fans who asked for reminders before ask again: they hear the result by DM.
        reminders = await bounded(self.reminded, lambda fan: sb.click(fan, announcement, remind_id))
        out.answer(self.reminded[0].name, "Remind me", reminders[0])
        wanted = self.stock + margin(self.stock)
        await until(lambda: len(self.shop.stripe.sessions) >= wanted, 60, "the link pool")
        out.say(
            f"    link pool: {len(self.shop.stripe.sessions)} Checkout Sessions issued at the shop "
            f"before opening ({plural(self.stock, 'unit')} plus a margin), none while fans wait"
        )

    async def _open(self) -> Message:
        sb, out = self.sb, self.out
        out.heading("Opening: the draw")
        opened = await sb.slash(self.seed.manager, "drop open", {"drop": PRODUCT_NAME})
        out.answer("manager", f"/drop open {PRODUCT_NAME}", await opened.wait_followup())
        await until(
            lambda: claim_post(sb, self.seed.drops.id, self.drop_id) is not None,
            15,
            "the opening post",
        )
        post = claim_post(sb, self.seed.drops.id, self.drop_id)
        assert post is not None
        out.post("drops", post, as_of=post.created_at)
        return post

    # --- drop day ---------------------------------------------------------------------------

    async def _press(self, fans: list[Any], post: Message) -> list[InteractionResult]:
        claim_id = f"dropbell:claim:{self.drop_id}"
        results = await bounded(fans, lambda fan: self.sb.click(fan, post, claim_id, timeout=15))
        for fan, result in zip(fans, results, strict=True):
            self.answers[fan.id] = result
            url = link_of(result.components)
            if url is not None:
                self.links[fan.id] = url
        return results

    async def _pay(self, fans: list[Any]) -> list[Delivery]:
        sessions = {session["url"]: sid for sid, session in self.shop.stripe.sessions.items()}
        return await bounded(
            fans, lambda fan: self.shop.stripe.complete(sessions[self.links[fan.id]])
        )

    async def counts(self) -> ClaimCounts:
        return await self.bot.services.drop_day.counts(self.drop_id)

    async def _claims(self, post: Message, plan: Plan) -> None:
        out = self.out
        out.heading("Get my link")
        won = await self._press(plan.winners, post)
        first = plan.winners[0]
        out.answer(first.name, "Get my link (drawn)", won[0])
        again = (await self._press([first], post))[0]
        out.answer(first.name, "Get my link again", again)
        if link_of(again.components) != link_of(won[0].components):
            raise RuntimeError("pressing again gave another link")
        if len({link_of(r.components) for r in won} - {None}) != len(plan.winners):
            raise RuntimeError("not every winner got a link of their own")

        # Payments come back as signed webhooks, well within the holds.
        deliveries = await self._pay(plan.payers)
        if deliveries:
            delivery = deliveries[0]
            signature = delivery.headers.get("Stripe-Signature", "")
            url, status = delivery.results[0]
            out.say(
                f"shop › POST {url}  checkout.session.completed  "
                f"Stripe-Signature: {signature[:26]}…  → {status}"
            )
        out.say(
            f"    {len(plan.payers)} of {plural(len(plan.winners), 'winner')} paid at the shop; "
            f"{len(plan.unpaid)} let the link sit"
        )
        await until(
            self._counted(lambda c: c.paid >= len(plan.payers)), 15, "the payments recorded"
        )
        if plan.payers:
            # The fan's own answer turns into a receipt while its interaction is alive.
            await self.answers[first.id].wait_edit(1)
            out.answer(first.name, "Get my link — the same answer, after paying", again)

        lost = await self._press(plan.reserves, post)
        if lost:
            out.answer(plan.reserves[0].name, "Get my link (not drawn)", lost[0])
        late = (await self._press([self.newcomer], post))[0]
        out.answer("newcomer", "Get my link (not on the waitlist at the draw)", late)
        told = [reserve_number(r.text) for r in lost]
        if told != list(range(1, len(lost) + 1)) or any(link_of(r.components) for r in lost):
            raise RuntimeError("the reserves' answers do not follow the re-run's order")
        out.say(
            f"    ✓ the re-run matches: each of its {plural(len(plan.winners), 'winner')} got a "
            f"link, each of its {plural(len(plan.reserves), 'reserve')} was told their place "
            "in its order"
        )

    async def _raffle_dms(self, plan: Plan) -> None:
        reachable = [fan for fan in self.reminded if fan is not self.closed]
        if not reachable:
            return
        winners = {fan.id for fan in plan.winners}
        place = {fan.id: n for n, fan in enumerate(plan.reserves, start=1)}

        def result_dm(fan: Any) -> Message | None:
            return next((m for m in self.sb.dms(fan.id) if "raffle" in m.content), None)

        await until(lambda: all(result_dm(fan) for fan in reachable), 20, "the raffle DMs")
        agree = 0
        for fan in reachable:
            dm = result_dm(fan)
            assert dm is not None
            if fan.id in winners:
                agree += "You won" in dm.content
            else:
                agree += reserve_number(dm.content) == place.get(fan.id)
        shown = next((fan for fan in reachable if fan.id in winners), reachable[0])
        dm = result_dm(shown)
        assert dm is not None
        self.out.post(f"DM to {shown.name}", dm)
        self.out.say(
            f"    raffle results by DM to the {plural(len(reachable), 'entrant')} who asked for "
            f"reminders (the others read it in /waitlist status); {agree} of {len(reachable)} "
            "agree with the re-run"
        )
        if agree != len(reachable):
            raise RuntimeError("a raffle DM disagrees with the re-run")

    async def _pass_to_reserves(self, post: Message, plan: Plan) -> None:
        if not plan.unpaid:
            return
        out = self.out
        out.heading(f"Holds end: {plural(len(plan.unpaid), 'winner')} did not pay in time")
        await until(
            self._counted(lambda c: c.expired >= len(plan.unpaid)),
            HOLD_SECONDS + 15,
            "the unpaid holds ending",
        )

        def ended_at_shop() -> int:
            return sum(1 for s in self.shop.stripe.sessions.values() if s["status"] == "expired")

        await until(lambda: ended_at_shop() >= len(plan.unpaid), 15, "the links ended at the shop")
        out.say(
            f"    {plural(len(plan.unpaid), 'hold')} ended unpaid: the units went back, and the "
            f"bot ended their links at the shop ({ended_at_shop()} Checkout Sessions expired)"
        )
        gone = plan.unpaid[0]
        out.answer(
            gone.name, "Get my link (after the hold ended)", (await self._press([gone], post))[0]
        )
        if not plan.promoted:
            return
        wanted = self.stock + len(plan.unpaid)

        async def passed() -> bool:
            drop = await self.bot.services.drops.get_any(self.drop_id)
            return drop is not None and drop.claim_window >= wanted

        await until(passed, 2 * HOLD_SECONDS + 15, "the units passing to the reserves")
        out.say(
            f"    a raffle round (one every hold after the draw): the "
            f"{plural(len(plan.unpaid), 'unit')} passed to {reserves_text(len(plan.promoted))}, "
            "in draw order"
        )
        got = await self._press(plan.promoted, post)
        out.answer(plan.promoted[0].name, "Get my link (reserve #1, now drawn)", got[0])
        for fan, answer in zip(plan.promoted, got, strict=True):
            if link_of(answer.components) is None:
                raise RuntimeError(
                    f"{fan.name}, a reserve the units passed to, got no link: {answer.text}"
                )
        if len(plan.reserves) > len(plan.promoted):
            nxt = plan.reserves[len(plan.promoted)]
            out.answer(
                nxt.name,
                f"Get my link (reserve #{len(plan.promoted) + 1})",
                (await self._press([nxt], post))[0],
            )
        await self._pay(plan.promoted_payers)
        paid = len(plan.payers) + len(plan.promoted_payers)
        await until(self._counted(lambda c: c.paid >= paid), 15, "the reserves' payments")
        out.say(
            f"    {len(plan.promoted_payers)} of them paid (signed webhooks again); "
            f"{len(plan.still_holding)} still hold their link"
        )

    async def _refund(self, plan: Plan) -> None:
        if plan.refunded is None:
            return
        self.out.heading("A refund")
        sessions = {session["url"]: sid for sid, session in self.shop.stripe.sessions.items()}
        delivery = await self.shop.stripe.refund(sessions[self.links[plan.refunded.id]])
        await until(self._counted(lambda c: c.refunded >= 1), 15, "the refund recorded")
        self.out.say(
            f"shop › {plan.refunded.name}'s order is refunded in the shop: charge.refunded → "
            f"{delivery.results[0][1]}; the claim is marked refunded (its unit is not resold)"
        )

    def _counted(self, wanted: Callable[[ClaimCounts], bool]) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return wanted(await self.counts())

        return check
