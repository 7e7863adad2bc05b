"""The demo end to end: it works for small crowds and prints what a member would read."""

from __future__ import annotations

import re

import pytest

from bot.demo import run_demo


@pytest.mark.parametrize("fans", [1, 2])
async def test_demo_runs_for_any_crowd_and_prints_no_raw_markup(
    fans: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_demo(fans=fans) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith("demo OK")
    # Discord's markup is rendered: no raw timestamps, mentions or custom ids are left.
    for raw in ("<t:", "<#", "<@&", "dropbell:join:", "**"):
        assert raw not in printed, raw
    assert "buttons: [Join waitlist] [Remind me]" in printed
    assert re.search(r"Opens: \w{3} \d\d \w{3} 18:00 CES?T \(in \d days\)", printed)
    assert "You're #1 of 1 for Night Moth Tee" in printed
