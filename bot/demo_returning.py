"""The demo's last part: a second drop, in which returning fans earn a collector tier, and the
brand reads its insights.

The manager sets a tier, Collector, from the second purchase. Some of the first drop's buyers
come back for a second product, with fans who did not buy the first time; those who buy again
get @Collector. Discord lets a server's role edits go at about one a second (10 per 10 s, which
the sandbox enforces), so the demo keeps the returning crowd small rather than relaxing it.
Then ``/insights`` on the second drop: the demo prints its figures and writes its charts and
CSV next to the SQLite file. As in the rest of the demo, every check is made on what members
see (their roles in the server, the answers and the files the manager gets).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.bot import Dropbell
from bot.demo_dropday_plan import PRODUCT_NAME, SHOP_NAME, claim_post, until
from bot.demo_output import CONCURRENCY, VIEWER_ZONE, Printer, bounded, link_of
from sandbox import Message, Sandbox
from sandbox.shop import SandboxShop
from services.dropday.pool import margin
from services.text import plural

CAP_ID = "price_luna_moth_cap"
CAP_NAME = "Luna Moth Cap"
CAP_PRICE_CENTS = 3000
RETURNING = 12  # first-drop buyers who come back
NEWCOMERS = 8  # fans who did not buy the first time, joining the second drop
NEWCOMER_PAYERS = 6


class SecondDrop:
    """The returning fans' drop, step by step; ``run`` returns the summary lines."""

    def __init__(
        self,
        sb: Sandbox,
        seed: Any,
        bot: Dropbell,
        shop: SandboxShop,
        buyers: list[Any],
        folder: Path,
        out: Printer,
    ) -> None:
        self.sb, self.seed, self.bot, self.shop, self.out = sb, seed, bot, shop, out
        self.folder = folder
        self.returning = buyers[:RETURNING]
        bought = {fan.id for fan in buyers}
        self.newcomers = [fan for fan in seed.fans if fan.id not in bought][:NEWCOMERS]
        self.first_timers = self.newcomers[:NEWCOMER_PAYERS]  # they buy for the first time
        self.stock = len(self.returning) + len(self.first_timers)
        self.drop_id = 0

    async def run(self) -> list[str]:
        started = time.perf_counter()
        collector = await self._tier()
        announcement = await self._create()
        await self._join(announcement)
        post = await self._open()
        payers = self.returning + self.first_timers
        await self._buy(post, payers)
        await self._roles(collector)
        figures, paths = await self._insights()
        return [
            f"second drop: {plural(len(self.returning), 'returning buyer')} bought again and "
            f"hold @Collector; {plural(len(self.first_timers), 'first-time buyer')} do not (yet)",
            f"insights: {figures}",
            f"insights charts and CSV: {', '.join(str(p) for p in paths)}",
            f"second drop took {time.perf_counter() - started:.1f}s",
        ]

    async def _tier(self) -> Any:
        sb, out, gid = self.sb, self.out, self.seed.guild.id
        out.heading("A collector tier: @Collector from the second purchase")
        collector = sb.create_role(gid, "Collector")
        said = await sb.slash(
            self.seed.manager,
            "collector tier-set",
            {"name": "Collector", "role": collector, "min_purchases": 2},
        )
        out.answer("manager", "/collector tier-set Collector @Collector 2", said)
        return collector

    async def _create(self) -> Message:
        sb, out = self.sb, self.out
        self.shop.catalog.add_product(CAP_ID, CAP_NAME, CAP_PRICE_CENTS, stock=self.stock)
        out.heading(f"A second drop: {CAP_NAME}, {plural(self.stock, 'unit')}, waitlist order")
        opens = datetime.now(ZoneInfo(VIEWER_ZONE)) + timedelta(minutes=30)
        created = await sb.slash(
            self.seed.manager,
            "drop create",
            {
                "name": CAP_NAME,
                "starts_at": opens.strftime("%Y-%m-%d %H:%M"),
                "timezone": VIEWER_ZONE,
                "stock": self.stock,
                "allocation": "waitlist-order",
                "product": f"{SHOP_NAME}:{CAP_ID}",
                "description": "The moth again, embroidered on a cap; first come, first served.",
            },
        )
        out.answer("manager", f"/drop create {CAP_NAME}", await created.wait_followup())
        announcement = sb.messages(self.seed.drops.id)[-1]
        join_id = next(c for c in announcement.custom_ids() if c.startswith("dropbell:join:"))
        self.drop_id = int(join_id.rsplit(":", 1)[1])
        return announcement

    async def _join(self, announcement: Message) -> None:
        joiners = self.returning + self.newcomers
        join_id = f"dropbell:join:{self.drop_id}"
        self.out.heading(
            f"{plural(len(self.returning), 'returning buyer')} and "
            f"{plural(len(self.newcomers), 'new fan')} join ({CONCURRENCY} at a time)"
        )
        answers = await bounded(
            joiners, lambda fan: self.sb.click(fan, announcement, join_id, timeout=15)
        )
        self.out.answer(joiners[0].name, "Join waitlist", answers[0])
        sessions_before = len(self.shop.stripe.sessions)
        wanted = sessions_before + self.stock + margin(self.stock)

        def pooled() -> bool:
            return len(self.shop.stripe.sessions) >= wanted

        await until(pooled, 60, "the second drop's link pool")

    async def _open(self) -> Message:
        sb, out = self.sb, self.out
        opened = await sb.slash(self.seed.manager, "drop open", {"drop": CAP_NAME})
        out.answer("manager", f"/drop open {CAP_NAME}", await opened.wait_followup())
        channel = self.seed.drops.id
        await until(
            lambda: claim_post(sb, channel, self.drop_id) is not None, 15, "the opening post"
        )
        post = claim_post(sb, channel, self.drop_id)
        assert post is not None
        return post

    async def _buy(self, post: Message, payers: list[Any]) -> None:
        claim_id = f"dropbell:claim:{self.drop_id}"
        answers = await bounded(payers, lambda fan: self.sb.click(fan, post, claim_id, timeout=15))
        urls = [link_of(answer.components) for answer in answers]
        if None in urls:
            raise RuntimeError("a fan of the second drop got no purchase link")
        sessions = {session["url"]: sid for sid, session in self.shop.stripe.sessions.items()}
        await bounded(urls, lambda url: self.shop.stripe.complete(sessions[str(url)]))
        self.out.say(
            f"    {plural(len(payers), 'fan')} pressed Get my link and paid at the shop "
            "(signed webhooks to the bot's listener)"
        )

    async def _roles(self, collector: Any) -> None:
        out = self.out
        out.heading("Returning buyers earn the tier")
        first_timers = self.first_timers

        def roles_in_line() -> bool:
            return all(collector.id in fan.roles for fan in self.returning)

        await until(roles_in_line, 60, "@Collector for the returning buyers")
        if any(collector.id in fan.roles for fan in first_timers):
            raise RuntimeError("a first-time buyer holds @Collector")
        out.say(
            f"    ✓ {plural(len(self.returning), 'returning buyer')} hold @Collector (2 "
            f"purchases); {plural(len(first_timers), 'first-time buyer')} do not (1 purchase)"
        )
        fan = self.returning[0]
        profile = await self.sb.slash(fan, "collector profile")
        out.answer(fan.name, "/collector profile", profile)

    async def _insights(self) -> tuple[str, list[Path]]:
        sb, out = self.sb, self.out
        out.heading("What the brand reads: /insights")
        asked = await sb.slash(self.seed.manager, "insights", {"drop": CAP_NAME}, timeout=15)
        final = await asked.wait_followup(timeout=30)
        out.answer("manager", f"/insights {CAP_NAME}", final)
        paths = []
        for attachment in final.attachments:
            path = self.folder / attachment.filename
            path.write_bytes(attachment.data)
            paths.append(path)
        out.say(f"    charts and CSV written: {', '.join(p.name for p in paths)}")
        fields = {f["name"]: f["value"] for f in final.embeds[0]["fields"]}
        funnel = _first_line_with(fields, "Funnel", lambda line: "Paid" in line)
        retained = _first_line_with(fields, "retention", lambda line: "came back" in line)
        # The first drop's buyers are the cohort that had a later drop to come back to.
        first = await sb.slash(self.seed.manager, "insights", {"drop": PRODUCT_NAME}, timeout=15)
        cohort = (await first.wait_followup(timeout=30)).embeds[0]["fields"]
        velocity = {f["name"]: f["value"] for f in cohort}
        again = _first_line_with(velocity, "cohort", lambda line: "Bought again" in line)
        median = _first_line_with(velocity, "cohort", lambda line: "Median" in line)
        out.say(f"manager › /insights {PRODUCT_NAME}: {again}; {median}".replace("**", ""))
        figures = f"{funnel}; {retained}; the {PRODUCT_NAME} cohort: {again}; {median}"
        return figures.replace("**", ""), paths


def _first_line_with(fields: dict[str, str], name_part: str, wanted: Callable[[str], bool]) -> str:
    for name, value in fields.items():
        if name_part.casefold() in name.casefold():
            for line in value.splitlines():
                if wanted(line):
                    return line.strip()
    raise RuntimeError(f"the insights embed has no {name_part!r} line")
