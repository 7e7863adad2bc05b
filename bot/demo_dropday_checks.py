"""What anyone can check on the demo's drop day, from what fans, managers and the shop see:
the raffle re-run from its published seed, and the tally against the shop's payments."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from typing import Any

from bot.demo_dropday_plan import PRODUCT_NAME, rerun_draw
from bot.demo_output import Printer
from sandbox import Message, Sandbox
from sandbox.shop import SandboxShop
from services.text import plural


async def rerun_from_post(
    sb: Sandbox,
    manager: Any,
    post: Message,
    commitment: str,
    by_id: dict[int, Any],
    stock: int,
    out: Printer,
) -> list[int]:
    """Re-run the raffle as any fan can: the seed from the opening post against the commitment
    shown since the announcement, the entries from /drop export; the draw's order of user ids."""
    out.heading("Anyone can re-run the draw")
    found = re.search(r"seed: `([0-9a-f]{64})`", post.content)
    if found is None:
        raise RuntimeError("the opening post publishes no seed")
    seed = found.group(1)
    digest = hashlib.sha256(seed.encode()).hexdigest()
    export = await sb.slash(manager, "drop export", {"drop": PRODUCT_NAME})
    [(filename, data, _)] = export.attachments
    entries = [
        int(row["user_id"]) for row in csv.DictReader(io.StringIO(data.decode())) if row["place"]
    ]
    order = rerun_draw(seed, entries)
    names = [by_id[user].name for user in order]
    out.say(f"    1. the seed in the opening post: {seed[:16]}…")
    out.say(
        f"    2. its sha256: {digest[:16]}… — the commitment shown since the drop was "
        f"announced: {'matches' if digest == commitment else 'DOES NOT MATCH'}"
    )
    out.say(
        f"    3. the {plural(len(entries), 'entry', 'entries')} from /drop export "
        f'({filename}), each ranked by sha256("<seed>:<user_id>")'
    )
    out.say(
        f"    4. ascending, the first {stock} win: "
        f"{', '.join(names[: min(5, stock)])}{'…' if stock > 5 else ''}"
        + (
            f"; then the reserves in order: {', '.join(names[stock : stock + 3])}"
            f"{'…' if len(names) > stock + 3 else ''}"
            if len(names) > stock
            else ""
        )
    )
    if digest != commitment:
        raise RuntimeError("the published seed does not match the commitment")
    return order


async def tally(sb: Sandbox, manager: Any, shop: SandboxShop, stock: int, out: Printer) -> str:
    """The tally managers see (/drop show, /drop export) checked against the shop's payments;
    the line of counts."""
    out.heading("The tally")
    show = await sb.slash(manager, "drop show", {"drop": PRODUCT_NAME})
    fields = {f["name"]: f["value"] for f in show.embeds[0]["fields"]}
    out.say(f"manager › /drop show {PRODUCT_NAME}  [ephemeral]")
    for name in ("Stock", "Claims", "Raffle"):
        for line in out.shown(f"{name}: {fields.get(name, '')}").splitlines():
            out.say(f"    {line}")
    numbers = dict(
        (word, int(n.replace(",", "")))
        for n, word in re.findall(r"([\d,]+) (\w+)", fields.get("Claims", ""))
    )
    claimed, paid, held = numbers["claimed"], numbers["paid"], numbers["held"]
    expired, refunded, remaining = numbers["expired"], numbers["refunded"], numbers["remaining"]
    export = await sb.slash(manager, "drop export", {"drop": PRODUCT_NAME})
    [(_, data, _)] = export.attachments
    statuses = Counter(row["claim_status"] for row in csv.DictReader(io.StringIO(data.decode())))
    completed = sum(1 for s in shop.stripe.sessions.values() if s["status"] == "complete")
    sold = paid + refunded + held + remaining
    in_export = {"paid": paid, "held": held, "expired": expired, "refunded": refunded}
    checks = [
        (paid <= stock, f"paid {paid} <= stock {stock}"),
        (sold == stock, f"paid + refunded + held + remaining = {sold} = stock"),
        (
            claimed == paid + held + expired + refunded,
            f"claimed {claimed} = paid + held + expired + refunded",
        ),
        (
            all(statuses[state] == count for state, count in in_export.items()),
            "the export's claim_status column agrees",
        ),
        (
            completed == paid + refunded,
            f"the shop took {plural(completed, 'payment')} = paid + refunded",
        ),
    ]
    tally = (
        f"claimed {claimed} · paid {paid} · held {held} · expired {expired} · "
        f"refunded {refunded} · remaining {remaining} (stock {stock})"
    )
    out.say(f"    {tally}")
    for ok, check in checks:
        out.say(f"    {'✓' if ok else '✗'} {check}")
    if not all(ok for ok, _ in checks):
        raise RuntimeError("the drop day's tally is not consistent")
    return tally
