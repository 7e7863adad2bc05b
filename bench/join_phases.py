"""join_burst's further phases, each a burst of N presses by fans the bot has seen before:
flat in N (the same fans join a drop whose line is already long) and re-clicks (a share of the
presses by fans already on the line, early places included, asking where they are).

Both compare like with like: the flat phase's rate against the second burst's (the same fans
on an empty line), the re-click phase against the bare button floor of the same run. Also what
the bursts share: announcing a drop, reading a place, filling a line, checking a burst.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import database, targets
from bench.floor import Figures, measure, print_checks
from sandbox import InteractionResult, Member, Message, Sandbox, SeedInfo
from storage.tables import waitlist_entries

Answers = list[tuple[int, str]]  # (user id, answer text), in the order answered
PLACE = re.compile(r"#(\d+) of ([\d,]+)")


def pressing(
    sb: Sandbox, members: Sequence[Member], post: Message, join: str, answers: Answers
) -> Callable[[int], Awaitable[InteractionResult]]:
    """``measure``'s injector: member i presses Join on ``post``; the answer is kept."""

    def press(i: int) -> Awaitable[InteractionResult]:
        async def click() -> InteractionResult:
            result = await sb.click(members[i], post, join, timeout=30)
            answers.append((members[i].user.id, result.content))
            return result

        return click()

    return press


@dataclass
class Phase:
    label: str
    figures: Figures
    checks: dict[str, bool]


async def flat_phase(
    sb: Sandbox,
    seed: SeedInfo,
    url: str,
    pid: int,
    fans: Sequence[Member],
    line: int,
    baseline: Figures,
    concurrency: int,
) -> Phase:
    """The same fans join a drop with ``line`` fans already waiting; rate against ``baseline``
    (their burst on an empty line), places exactly line+1..line+N."""
    n = len(fans)
    name = "Bench Tee long"
    post, join = await announce(sb, seed, name, n)
    await fill_line(url, line, name)
    answers: Answers = []
    figures = await measure(pressing(sb, fans, post, join, answers), n, concurrency, pid)
    places = sorted(place_in(text) for _, text in answers)
    entries = await entry_count(url, name)
    ratio = figures.per_second / baseline.per_second if baseline.per_second else 0.0
    checks = {
        f"{name}: {entries:,} entries, new places exactly {line + 1:,}..{line + n:,}": (
            entries == line + n and places == list(range(line + 1, line + n + 1))
        ),
        f"flat in N: {figures.per_second:.0f}/s with {line:,} already on the line vs "
        f"{baseline.per_second:.0f}/s on an empty one (same fans): {ratio:.2f} >= "
        f"{targets.FLAT_IN_N_RATIO}": ratio >= targets.FLAT_IN_N_RATIO,
    }
    return Phase(f"join, {line:,} on the line", figures, checks)


async def reclick_phase(
    sb: Sandbox,
    seed: SeedInfo,
    url: str,
    pid: int,
    fans: Sequence[Member],
    share: float,
    button: Figures,
    concurrency: int,
) -> Phase:
    """A share of the presses by fans already on the line (they joined first, so the early
    places are among them), the rest by fans new to the bot; every re-click answered
    "already" with its place, new fans placed after them; rate against the button floor."""
    n = len(fans)
    back = round(n * share)
    name = "Bench Tee again"
    post, join = await announce(sb, seed, name, n)
    earlier: Answers = []
    await measure(pressing(sb, fans[:back], post, join, earlier), back, concurrency)
    known = {user: place_in(text) for user, text in earlier}
    newcomers = [sb.create_member(seed.guild.id, f"newcomer{i}") for i in range(n - back)]
    mixed = [*fans[:back], *newcomers]
    random.Random(11).shuffle(mixed)
    answers: Answers = []
    figures = await measure(pressing(sb, mixed, post, join, answers), n, concurrency, pid)
    right = sum(
        1
        for user, text in answers
        if user in known and "already" in text and place_in(text) == known[user]
    )
    new_places = sorted(place_in(text) for user, text in answers if user not in known)
    to_button = figures.per_second / button.per_second if button.per_second else 0.0
    checks = {
        f"re-clicks answered 'already' with their place: {right:,}/{back:,} (places 1..{back:,})": (
            right == back and sorted(known.values()) == list(range(1, back + 1))
        ),
        f"new fans among them placed exactly {back + 1:,}..{n:,}": (
            new_places == list(range(back + 1, n + 1))
        ),
        f"with {share:.0%} re-clicks, ratio to the button floor {to_button:.2f} >= "
        f"{targets.RECLICK_RATIO_TO_BUTTON}": to_button >= targets.RECLICK_RATIO_TO_BUTTON,
    }
    return Phase(f"join, {share:.0%} pressing again", figures, checks)


async def further_phases(
    sb: Sandbox,
    seed: SeedInfo,
    url: str,
    pid: int,
    fans: Sequence[Member],
    flat: tuple[int, Figures],
    reclick: tuple[float, Figures],
    concurrency: int,
) -> list[Phase]:
    """The flat phase (``flat``: the line's length, 0 to skip, and the empty-line burst to
    compare with), then the re-click phase (``reclick``: the share, 0 to skip, and the button
    floor)."""
    (line, baseline), (share, button) = flat, reclick
    phases = []
    if line:
        phases.append(await flat_phase(sb, seed, url, pid, fans, line, baseline, concurrency))
    if share:
        phases.append(await reclick_phase(sb, seed, url, pid, fans, share, button, concurrency))
    return phases


async def announce(sb: Sandbox, seed: SeedInfo, name: str, stock: int) -> tuple[Message, str]:
    """Create a drop through /drop create; its announcement and Join custom_id."""
    created = await sb.slash(
        seed.manager,
        "drop create",
        {
            "name": name,
            "starts_at": "2031-01-01 12:00",
            "timezone": "UTC",
            "stock": stock,
            "channel": seed.drops,
        },
        timeout=30,
    )
    await created.wait_followup(timeout=30)
    post = sb.messages(seed.drops.id)[-1]
    return post, next(c for c in post.custom_ids() if c.startswith("dropbell:join:"))


def place_in(text: str) -> int:
    match = PLACE.search(text)
    return int(match.group(1)) if match else -1


async def fill_line(url: str, count: int, name: str = "Bench Tee") -> None:
    """``count`` fans already waiting on the drop called ``name``, written as joins would leave
    them (sequence numbers and the drop's counters), so a burst joins the end of a long line."""
    ((drop_id,),) = await database.rows(url, "SELECT id FROM drops WHERE name = :name", name=name)
    joined = datetime(2030, 1, 1, tzinfo=UTC)
    entries = [
        {"drop_id": drop_id, "guild_id": 0, "user_id": 10**15 + seq,
         "display_name": f"early fan {seq}", "joined_at": joined, "seq": seq}
        for seq in range(1, count + 1)
    ]  # fmt: skip
    await database.execute(
        url,
        (waitlist_entries.insert(), entries),
        (
            "UPDATE drops SET waitlist_size = :count, waitlist_seq = :count WHERE id = :id",
            {"count": count, "id": drop_id},
        ),
    )
    await database.settle(url, "waitlist_entries")


async def check_burst(url: str, name: str, answers: list[str], n: int) -> bool:
    """A further burst: its drop holds exactly its n fans, placed 1..n."""
    places = sorted(int(m.group(1)) for text in answers if (m := PLACE.search(text)))
    ((entries,),) = await database.rows(
        url,
        "SELECT count(*) FROM waitlist_entries "
        "WHERE drop_id = (SELECT id FROM drops WHERE name = :name)",
        name=name,
    )
    return print_checks(
        {
            f"{name}: {entries:,} entries, places exactly 1..{n:,}": (
                entries == n and places == list(range(1, n + 1))
            )
        }
    )


async def entry_count(url: str, name: str) -> int:
    ((entries,),) = await database.rows(
        url,
        "SELECT count(*) FROM waitlist_entries "
        "WHERE drop_id = (SELECT id FROM drops WHERE name = :name)",
        name=name,
    )
    return int(entries)
