"""/drop export end to end: a fan's display name can never run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

from bot.bot import Dropbell
from sandbox import Sandbox
from tests.harness import Community, create_drop, drop_id_of


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
