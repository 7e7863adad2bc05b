"""/insights through the sandbox: a manager gets the embed, three PNG charts and the CSV of the
fixed history (tests/support/insights_dataset.py, values worked out by hand there); a plain
member is refused; bad input is one sentence."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from sandbox import Sandbox
from services.insights.export import INSIGHTS_HEADER
from tests.harness import Community, create_drop, drop_id_of
from tests.support import insights_dataset as data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fans_of(community: Community) -> list[int]:
    """u1..u8: the community's five fans, then three who left the server since."""
    return [m.id for m in community.fans] + [9_000_001, 9_000_002, 9_000_003]


async def test_manager_gets_embed_three_charts_and_csv(
    sandbox: Sandbox, community: Community, bot
) -> None:
    ids = await data.insert_history(bot.database, community.guild.id, fans_of(community))
    choices = await sandbox.autocomplete(
        community.manager, "insights", {"drop": "gam"}, focused="drop"
    )
    assert [c["value"] for c in choices] == [str(ids["Gamma"])]

    answer = await sandbox.slash(community.manager, "insights", {}, timeout=15)
    assert answer.response_type == 5  # deferred first: charts take longer than 3 s may allow
    final = await answer.wait_followup(timeout=15)
    assert final.ephemeral and len(answer.followups) == 1

    (embed,) = final.embeds
    assert embed["title"] == "📈 Insights: Gamma"  # the latest drop that opened
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    funnel = fields["Funnel: joined → pressed Get my link → paid"]
    assert "Joined the waitlist: **4**" in funnel
    assert "Pressed Get my link: **6** (150.0 % of joined)" in funnel
    assert "Paid: **5** (83.3 % of pressed)" in funnel
    retention = fields["Community retention (active re-engagers)"]
    assert "Active fans (joined, committed or bought): **7**" in retention
    assert "From **Beta**: 5 of 6 came back (83.3 %)" in retention
    assert "Into **Delta** so far: 2 of 7 (28.6 %)" in retention
    cohort = fields["Repeat purchase cohort velocity"]
    assert "First-time buyers: **1**" in cohort and "**0** (0.0 %)" in cohort
    assert "Median time to the second purchase: **n/a**" in cohort
    preorder = fields["Pre-order interest"]
    assert "6 of 10 units (60.0 % of the goal)" in preorder
    assert "Moth Green: 4 units from 2 fans" in preorder
    assert "Ash Grey: 2 units from 1 fan\n" in preorder
    assert "75 %: not yet" in preorder and "50 %: <t:" in preorder

    files = {f.filename: f.data for f in final.attachments}
    stem = f"insights-{ids['Gamma']}"
    charts = [f"{stem}-funnel.png", f"{stem}-retention.png", f"{stem}-cohorts.png"]
    assert sorted(files) == sorted([*charts, f"{stem}.csv"])
    for name in charts:
        png = files[name]
        assert png.startswith(PNG_SIGNATURE), name
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size == (800, 450), name
            image.load()  # decodes the whole image
            assert len(image.getcolors(maxcolors=1 << 20) or []) > 10, name  # drawn, not blank

    rows = list(csv.DictReader(io.StringIO(files[f"{stem}.csv"].decode())))
    assert tuple(rows[0]) == INSIGHTS_HEADER
    assert [r["drop"] for r in rows] == ["Alpha", "Beta", "Gamma"]  # up to the drop asked
    for row in rows:
        name = row["drop"]
        funnel_cells = (row["joined"], row["pressed_get_my_link"], row["paid"], row["refunded"])
        assert tuple(int(v) for v in funnel_cells) == data.FUNNEL[name]
        active, retained = data.RETENTION[name]
        assert retained is not None  # every drop up to Gamma has a next drop
        assert (int(row["active_fans"]), int(row["active_again_next_drop"])) == (active, retained)
        assert float(row["retention_to_next"]) == pytest.approx(retained / active, abs=1e-4)
        size, again, median = data.COHORTS[name]
        assert (int(row["first_time_buyers"]), int(row["bought_again"])) == (size, again)
        expected_days = "" if median is None else f"{median / data.DAY:.2f}"
        assert row["median_days_to_second_purchase"] == expected_days
    assert rows[1]["forgotten_fans"] == "1"
    assert (rows[2]["poll_goal"], rows[2]["poll_units_committed"]) == ("10", "6")


async def test_plain_member_is_refused_and_bad_input_is_one_sentence(
    sandbox: Sandbox, community: Community, bot
) -> None:
    fan = community.fans[0]
    refused = await sandbox.slash(fan, "insights", {})
    assert refused.ephemeral and "Only managers can do that" in refused.content
    assert not refused.attachments and not refused.embeds

    nothing = await sandbox.slash(community.manager, "insights", {})
    await nothing.wait_final()
    assert nothing.text.startswith("No drop of this server has opened yet")

    ids = await data.insert_history(bot.database, community.guild.id, fans_of(community))
    unknown = await sandbox.slash(community.manager, "insights", {"drop": "Nope"})
    await unknown.wait_final()
    assert "There is no drop called 'Nope' in this server; pick one from the list." in unknown.text
    cancelled = await sandbox.slash(community.manager, "insights", {"drop": str(ids["Cancelled"])})
    await cancelled.wait_final()
    assert "**Cancelled** was cancelled, so it has no insights" in cancelled.text
    announcement = await create_drop(sandbox, community, name="Quiet Tee")
    quiet = await sandbox.slash(
        community.manager, "insights", {"drop": str(drop_id_of(announcement))}
    )
    await quiet.wait_final()
    assert quiet.text == (
        "**Quiet Tee** has no activity yet (nobody joined, committed or bought); ask again once "
        "fans have."
    )
    assert len(quiet.followups) == 1
    assert not quiet.followups[0].attachments and not quiet.followups[0].embeds
    refused_again = await sandbox.slash(fan, "insights", {"drop": str(ids["Gamma"])})
    assert "Only managers can do that" in refused_again.content
