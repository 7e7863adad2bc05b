"""/drop export end to end: the contract's header and rows, and a fan's display name can never
run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

from bot.bot import Dropbell
from sandbox import Sandbox
from tests.harness import Community, create_drop, drop_id_of


async def test_export_csv_has_header_and_rows(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    post = await create_drop(sandbox, community)
    for fan in community.fans[:3]:
        await sandbox.click(fan, post, f"dropbell:join:{drop_id_of(post)}")
    await sandbox.click(community.fans[1], post, f"dropbell:remind:{drop_id_of(post)}")
    answer = await sandbox.slash(community.manager, "drop export", {"drop": "Night Moth Tee"})
    assert answer.ephemeral
    [(filename, data, _)] = answer.attachments
    assert filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == [
        "place",
        "user_id",
        "display_name",
        "joined_at_utc",
        "reminder_opt_in",
        "claim_status",
        "claimed_at_utc",
        "order_ref",
        "paid_at_utc",
    ]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert [row[5:] for row in rows[1:]] == [["", "", "", ""]] * 3  # nobody claimed yet
    assert [int(row[1]) for row in rows[1:]] == [fan.id for fan in community.fans[:3]]
    assert [row[4] for row in rows[1:]] == ["no", "yes", "no"]


async def test_formula_display_names_are_neutralised(
    sandbox: Sandbox, community: Community, bot: Dropbell
) -> None:
    post = await create_drop(sandbox, community)
    names = ['=HYPERLINK("http://x.example","win")', "+1+1", "-2", "@SUM(A1)", "Moth = best"]
    for name in names:
        fan = sandbox.create_member(community.guild.id, name)
        joined = await sandbox.click(fan, post, f"dropbell:join:{drop_id_of(post)}")
        assert "You're #" in joined.content
    answer = await sandbox.slash(community.manager, "drop export", {"drop": "Night Moth Tee"})
    [(_, data, _)] = answer.attachments
    cells = [row[2] for row in csv.reader(io.StringIO(data.decode()))][1:]
    assert cells == [
        '\'=HYPERLINK("http://x.example","win")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
        "Moth = best",  # only a leading sign makes a formula
    ]
