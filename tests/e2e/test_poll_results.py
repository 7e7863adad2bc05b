"""/poll results: per-option figures, the chart drawn from the data, the CSV; refusals; and
server isolation in autocomplete and results."""

from __future__ import annotations

import csv
import io
import struct
from pathlib import Path

import pytest
from matplotlib.dates import date2num
from PIL import Image, ImageChops

from sandbox import Sandbox
from services.localtime import utcnow
from services.polls.chart import render_chart, steps
from storage.polls import TallyPoint
from tests.databases import query
from tests.e2e.poll_support import berlin_in, commit, create_poll, poll_id_of, poll_options
from tests.harness import Community, build_community, wait_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


async def test_results_chart_and_csv_match_the_commitments(
    sandbox: Sandbox, community: Community, bot
) -> None:
    post = await create_poll(sandbox, community)
    poll_id = poll_id_of(post)
    a, b, c = community.fans[:3]
    await commit(sandbox, a, post, 0, 2)
    await commit(sandbox, b, post, 0, 1)
    await commit(sandbox, c, post, 1, 5)
    await commit(sandbox, a, post, 1, 1)
    await commit(sandbox, b, post, 0, 3)  # a change replaces the quantity

    answer = await sandbox.slash(community.manager, "poll results", {"poll": str(poll_id)})
    final = await answer.wait_followup()
    assert final.ephemeral
    assert "**Moth Tee**: 5 units from 2 fans · 175.00 EUR" in final.content
    assert "**Moth Hoodie**: 6 units from 2 fans · 363.00 EUR" in final.content
    assert "**Moth Cap**: 0 units from 0 fans" in final.content
    files = {f.filename: f.data for f in final.attachments}
    assert set(files) == {f"poll-{poll_id}.png", f"poll-{poll_id}.csv"}

    rows = list(csv.reader(io.StringIO(files[f"poll-{poll_id}.csv"].decode())))
    assert rows[0] == ["option", "price", "user_id", "display_name", "quantity", "committed_at_utc"]
    got = sorted((r[0], r[1], int(r[2]), r[3], int(r[4])) for r in rows[1:])
    assert got == sorted(
        [
            ("Moth Tee", "35.00", a.id, a.name, 2),
            ("Moth Tee", "35.00", b.id, b.name, 3),
            ("Moth Hoodie", "60.50", c.id, c.name, 5),
            ("Moth Hoodie", "60.50", a.id, a.name, 1),
        ]
    )
    assert all(r[5].endswith("Z") and "T" in r[5] for r in rows[1:])

    png = files[f"poll-{poll_id}.png"]
    assert png_size(png) == (800, 450)
    assert len(png) > 5_000  # drawn, not blank
    # One line per option, drawn from the recorded tally: read back what was plotted.
    results = await bot.services.polls.results(community.guild.id, poll_id)
    until = utcnow()
    chart = render_chart(results.poll, results.options, results.history, until)
    assert list(chart.series) == ["Moth Tee", "Moth Hoodie", "Moth Cap"]
    expected = steps(results.poll, results.options, results.history, until)
    for option in results.options:
        times, units = expected[option.idx]
        xs, ys = chart.series[option.name]
        assert ys == tuple(float(u) for u in units)
        assert xs == pytest.approx(tuple(float(x) for x in date2num(times)))
    assert chart.series["Moth Tee"][1] == (0.0, 2.0, 3.0, 5.0, 5.0)
    assert chart.series["Moth Hoodie"][1] == (0.0, 5.0, 6.0, 6.0)
    assert chart.series["Moth Cap"][1] == (0.0, 0.0)
    assert chart.goal == 10.0

    # Closed, the chart ends at the closing, so the PNG the bot attaches can be checked itself:
    # pixel for pixel, it is the chart of the recorded tally (whose lines are checked above).
    closing = await sandbox.slash(community.manager, "poll close", {"poll": str(poll_id)})
    assert "is closed" in (await closing.wait_followup()).content
    answer = await sandbox.slash(community.manager, "poll results", {"poll": str(poll_id)})
    closed = {f.filename: f.data for f in (await answer.wait_followup()).attachments}
    attached = decoded(closed[f"poll-{poll_id}.png"])
    assert attached.size == (800, 450)
    results = await bot.services.polls.results(community.guild.id, poll_id)
    assert results.poll.closed_at is not None

    def drawn(history: list[TallyPoint]) -> Image.Image:
        chart = render_chart(results.poll, results.options, history, results.poll.closed_at)
        return decoded(chart.png)

    assert ImageChops.difference(attached, drawn(results.history)).getbbox() is None
    # ...and the comparison sees the data: the same chart short of the last change differs.
    assert ImageChops.difference(attached, drawn(results.history[:-1])).getbbox() is not None


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")  # getbbox of an RGBA difference would look at alpha only


def poll_rows(database_path: Path) -> int:
    ((polls,),) = query(database_path, "SELECT count(*) FROM polls")
    ((options,),) = query(database_path, "SELECT count(*) FROM poll_options")
    return int(polls) + int(options)


REFUSALS = [
    ({"options": "Only one @ 10"}, "A poll needs 2 to 10 options separated by `;`"),
    ({"options": "; ".join(f"O{i}" for i in range(11))}, "A poll needs 2 to 10 options"),
    ({"options": "Tee @ 10; @ 20"}, "Option 2 has no name; write it as `Name @ price`."),
    ({"options": "Tee; " + "x" * 56}, "is 56 characters; keep each name to 55 or fewer."),
    ({"options": "Tee @ 10; tee @ 12"}, "**tee** is listed twice; give each option its own name."),
    ({"options": "Tee @ -5; Cap"}, "'-5' is not a price for **Tee**; write a positive amount"),
    ({"options": "Tee @ 0; Cap"}, "'0' is not a price for **Tee**"),
    ({"options": "Tee @ lots; Cap"}, "'lots' is not a price for **Tee**"),
    ({"goal": 0}, "The goal is the total units that make it worth producing; it must be at least"),
    # Past PostgreSQL's Integer column: one sentence, not an error id.
    ({"goal": 2**31}, "The goal can be at most 1,000,000 units; you gave 2,147,483,648."),
    ({"closes_at": "2020-01-01 10:00"}, "2020-01-01 10:00 in Europe/Berlin is already past;"),
    (
        {"closes_at": "2031-03-30 02:30"},
        "02:30 on 2031-03-30 does not exist (the clocks skip it for daylight saving)",
    ),
    (
        {"closes_at": "2031-10-26 02:30"},
        "02:30 on 2031-10-26 happens twice (the clocks go back for daylight saving)",
    ),
]


@pytest.mark.parametrize(("change", "sentence"), REFUSALS)
async def test_each_invalid_input_is_one_sentence_and_stores_nothing(
    sandbox: Sandbox, community: Community, database_path: Path, bot, change, sentence
) -> None:
    answer = await sandbox.slash(
        community.manager, "poll create", poll_options(channel=community.drops, **change)
    )
    final = await answer.wait_final()
    text = final.content if final.content else final.followups[0].content
    assert sentence in text, text
    assert "\n" not in text
    assert poll_rows(database_path) == 0
    assert sandbox.messages(community.drops.id) == []


async def test_polls_stay_in_their_server(sandbox: Sandbox, community: Community, bot) -> None:
    other = build_community(sandbox, name="Other Club")
    ours = poll_id_of(await create_poll(sandbox, community, question="Ours open?"))
    closed = poll_id_of(await create_poll(sandbox, community, question="Ours closed?"))
    await bot.services.polls.close(community.guild.id, closed)
    newer = poll_id_of(await create_poll(sandbox, community, question="Ours newer?"))
    theirs, _ = await bot.services.polls.create(
        other.guild.id,
        other.manager.id,
        other.drops.id,
        question="Theirs?",
        options="A; B",
        goal=5,
        closes_at=berlin_in_days(2),
        timezone="Europe/Berlin",
    )
    choices = await sandbox.autocomplete(
        community.manager, "poll results", {"poll": ""}, focused="poll"
    )
    assert [int(choice["value"]) for choice in choices] == [newer, ours, closed]
    assert all("Theirs" not in choice["name"] for choice in choices)
    answer = await sandbox.slash(community.manager, "poll results", {"poll": str(theirs.id)})
    assert answer.content == "I can't find that poll in this server; pick one from the list."
    await wait_for(lambda: bot.in_flight.count == 0, 5, "the commands to settle")


def berlin_in_days(days: int) -> str:
    from datetime import timedelta

    return berlin_in(timedelta(days=days))
