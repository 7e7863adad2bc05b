"""The demo end to end: it works for small crowds and prints what a member would read, and its
drop day (a raffle through the sandbox shop) adds up."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from bot.demo import run_demo
from bot.demo_dropday_plan import Plan, plan_for, rerun_draw, units_for
from bot.demo_poll import OPTIONS, goal_for, pledges_for
from bot.demo_poll import expected_tally as poll_tally

TALLY = re.compile(
    r"tally: claimed (\d+) · paid (\d+) · held (\d+) · expired (\d+) · refunded (\d+) · "
    r"remaining (\d+) \(stock (\d+)\)"
)


def tally_of(printed: str) -> dict[str, int]:
    found = TALLY.search(printed)
    assert found is not None, "no tally printed"
    names = ("claimed", "paid", "held", "expired", "refunded", "remaining", "stock")
    return dict(zip(names, map(int, found.groups()), strict=True))


@pytest.mark.parametrize("fans", [1, 2])
async def test_demo_runs_for_any_crowd_and_prints_no_raw_markup(
    fans: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert await run_demo(fans=fans, folder=tmp_path) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith("demo OK")
    # Discord's markup is rendered: no raw timestamps, mentions or custom ids are left.
    for raw in ("<t:", "<#", "<@&", "dropbell:join:", "dropbell:claim:", "**"):
        assert raw not in printed, raw
    assert "buttons: [Join waitlist] [Remind me]" in printed
    assert re.search(r"Opens: \w{3} \d\d \w{3} 18:00 CES?T \(in \d days\)", printed)
    assert "You're #1 of 1 for Night Moth Tee" in printed
    check_poll(printed, fans, tmp_path)
    check_second_drop(printed, tmp_path)

    # Drop day: the draw re-run from the published seed matches, and the tally adds up.
    assert "the commitment shown since the drop was announced: matches" in printed
    assert "✓ the re-run matches" in printed
    assert "buttons: [Buy now ↗]" in printed  # a winner's link button
    assert "✗" not in printed
    tally = tally_of(printed)
    plan = plan_for(list(range(fans)), units_for(fans))
    assert tally["stock"] == units_for(fans)
    assert tally["paid"] <= tally["stock"]
    assert tally["paid"] + tally["refunded"] + tally["held"] + tally["remaining"] == tally["stock"]
    assert tally["claimed"] == (
        tally["paid"] + tally["held"] + tally["expired"] + tally["refunded"]
    )
    assert tally == expected_tally(plan, tally["stock"])
    # Every payment and refund arrived as a signed webhook the listener accepted (200 only).
    webhooks = re.search(r"signed webhooks from the shop to the bot's listener: (.*)", printed)
    assert webhooks is not None
    statuses = re.findall(r"\d+ [\w.]+ → (\d+)", webhooks.group(1))
    assert statuses and set(statuses) == {"200"}


def check_second_drop(printed: str, folder: Path) -> None:
    """The last part: the first drop's buyers come back, earn @Collector, and /insights writes
    its three charts and its CSV next to the database."""
    found = re.search(
        r"second drop: (\d+) returning buyers? bought again and hold @Collector", printed
    )
    assert found is not None and int(found.group(1)) >= 1
    assert "Tier: Collector." in printed  # a returning buyer's /collector profile
    charts = re.search(r"insights charts and CSV: (.*)", printed)
    assert charts is not None
    paths = [Path(p) for p in charts.group(1).split(", ")]
    assert [p.suffix for p in paths] == [".png", ".png", ".png", ".csv"]
    for path in paths:
        assert path.parent == folder and path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def check_poll(printed: str, fans: int, folder: Path) -> None:
    """The pre-order poll ran before the drop day: goal announced, closed, tally and chart."""
    assert printed.index("A pre-order poll before the drop") < printed.index("Drop day:")
    assert "reached its goal" in printed
    assert "is closed and its results are posted in #drops" in printed
    pledges = pledges_for([object()] * fans)
    expected = poll_tally(pledges)
    for name, price in OPTIONS:
        units, count = expected[name]
        value = f"{units * price:,.2f} EUR"
        line = rf"{name}\s+{count} fans? ·\s+{units} units? · {re.escape(value)}"
        assert re.search(line, printed), line
    assert f"(goal {goal_for(pledges)}, reached)" in printed
    assert "✓ the tally matches what the fans pressed" in printed
    found = re.search(r"poll chart: (\S+\.png)", printed)
    assert found is not None, "no chart path printed"
    chart = Path(found.group(1))
    assert chart.parent == folder and chart.is_file()
    data = chart.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", data[16:24]) == (800, 450)  # the IHDR chunk: the chart's size
    assert (folder / chart.name.replace(".png", ".csv")).is_file()


def expected_tally(plan: Plan, stock: int) -> dict[str, int]:
    """What the demo's script does, counted independently of what the bot reports."""
    paid = len(plan.payers) + len(plan.promoted_payers)
    refunded = 1 if plan.refunded is not None else 0
    held = len(plan.still_holding)
    return {
        "claimed": len(plan.winners) + len(plan.promoted),
        "paid": paid - refunded,
        "held": held,
        "expired": len(plan.unpaid),
        "refunded": refunded,
        "remaining": stock - paid - held,
        "stock": stock,
    }


def test_the_demo_draw_is_the_documented_one() -> None:
    """The demo's own re-run follows product.md: sha256("<seed>:<user_id>") ascending."""
    seed = "0" * 64
    order = rerun_draw(seed, [3, 1, 2])
    assert sorted(order) == [1, 2, 3]
    assert order == rerun_draw(seed, [2, 3, 1])  # the order of entries does not matter


@pytest.mark.parametrize("crowd", [1, 2, 8, 200])
def test_the_plan_covers_every_path_it_can(crowd: int) -> None:
    stock = units_for(crowd)
    plan = plan_for(list(range(crowd)), stock)
    assert len(plan.winners) == min(stock, crowd)
    assert plan.payers + plan.unpaid == plan.winners
    assert plan.promoted == plan.reserves[: len(plan.unpaid)]
    assert plan.promoted_payers + plan.still_holding == plan.promoted
    if crowd == 200:
        assert (stock, len(plan.payers), len(plan.unpaid)) == (50, 35, 15)
        assert (len(plan.promoted_payers), len(plan.still_holding)) == (13, 2)
        assert plan.refunded is not None
    if crowd >= 2:  # a hold ends unpaid and its unit passes to a reserve
        assert plan.unpaid and plan.promoted


def test_the_poll_never_closes_at_a_time_daylight_saving_skips_or_repeats() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.demo_poll import closing_time

    berlin = ZoneInfo("Europe/Berlin")
    assert closing_time(datetime(2031, 3, 30, 1, 40, tzinfo=berlin)).hour == 3  # 02:40 skipped
    assert closing_time(datetime(2031, 10, 26, 1, 40, tzinfo=berlin)).hour == 3  # 02:40 twice
    assert closing_time(datetime(2031, 6, 1, 12, 0, tzinfo=berlin)).hour == 13
