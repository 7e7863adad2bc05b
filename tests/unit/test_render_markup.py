"""The demo's rendering of Discord markup: what a viewer in a stated zone would read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.render_markup import Viewer, button_labels, relative

NOW = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
OPENS = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)  # 18:00 in Berlin (CET)
VIEWER = Viewer(
    ZoneInfo("Europe/Berlin"),
    now=NOW,
    channels={10: "drops"},
    roles={20: "Drop pings"},
    users={30: "fan1"},
)


def test_timestamps_render_in_the_stated_zone() -> None:
    unix = int(OPENS.timestamp())
    text = f"**Night Moth Tee** opens <t:{unix}:F> (<t:{unix}:R>)"
    assert VIEWER.render(text) == "Night Moth Tee opens Sun 29 Nov 18:00 CET (in 2 days)"
    assert VIEWER.render(f"<t:{unix}:t> <t:{unix}>") == "18:00 Sun 29 Nov 18:00 CET"


def test_relative_counts_singular_and_past() -> None:
    assert relative(NOW + timedelta(days=1), NOW) == "in 1 day"
    assert relative(NOW - timedelta(minutes=5), NOW) == "5 minutes ago"
    assert relative(NOW + timedelta(seconds=1), NOW) == "in 1 second"
    assert relative(NOW, NOW) == "now"


def test_mentions_become_names_and_subtext_loses_its_marker() -> None:
    text = "<@&20> posted in <#10> for <@30> and <@!30>\n-# dropbell · ref S1"
    assert (
        VIEWER.render(text) == "@Drop pings posted in #drops for @fan1 and @fan1\ndropbell · ref S1"
    )
    assert VIEWER.render("<#99>") == "#unknown-channel"


def test_buttons_by_label() -> None:
    rows = [
        {
            "type": 1,
            "components": [
                {"type": 2, "label": "Join waitlist", "custom_id": "dropbell:join:1"},
                {
                    "type": 2,
                    "label": "Remind me",
                    "custom_id": "dropbell:remind:1",
                    "disabled": True,
                },
            ],
        }
    ]
    assert button_labels(rows) == ["[Join waitlist]", "[Remind me] (disabled)"]
    assert button_labels([]) == []
