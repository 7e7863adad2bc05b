"""Small wording helpers, so every sentence counts the same way and every reply fits."""

from __future__ import annotations

from collections.abc import Sequence

# Discord refuses message content over 2,000 characters.
MESSAGE_LIMIT = 2000
ELLIPSIS = "…"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "day")`` -> "1 day"; ``plural(3, "day")`` -> "3 days" (``many`` if irregular)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def duration_text(seconds: int) -> str:
    """The offset in its largest whole unit: "1 day", "90 minutes", "2 seconds"."""
    for unit, word in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds and seconds % unit == 0:
            return plural(seconds // unit, word)
    return plural(seconds, "second")


def and_list(items: Sequence[str]) -> str:
    """``["a", "b", "c"]`` -> "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def fit_lines(
    lines: Sequence[str],
    *,
    head: str = "",
    tail: str = "",
    limit: int = MESSAGE_LIMIT,
    total: int | None = None,
) -> str:
    """``head``, as many of ``lines`` as fit, "…and N more.", ``tail``: never over ``limit``.

    When not even the first line fits whole, it is shortened rather than dropped. ``total``
    counts the items when ``lines`` holds only the first of them (the rest were not rendered).
    """
    unrendered = (total or len(lines)) - len(lines)

    def more(hidden: int) -> str:
        return f"…and {hidden:,} more." if hidden else ""

    def joined(shown: Sequence[str], hidden: int) -> str:
        return "\n".join(part for part in (head, *shown, more(hidden), tail) if part)

    # The length with the first ``count`` lines shown, from running sums: O(len(lines)).
    fixed = sum(len(part) + 1 for part in (head, tail) if part)
    best, used = 0, 0
    for count in range(1, len(lines) + 1):
        used += len(lines[count - 1]) + 1
        hidden = len(lines) - count + unrendered
        if fixed + used + (len(more(hidden)) + 1 if hidden else 0) - 1 <= limit:
            best = count
    if best == 0 and lines:
        hidden = len(lines) - 1 + unrendered
        room = limit - fixed - (len(more(hidden)) + 1 if hidden else 0)
        return shorten(joined([shorten(lines[0], max(1, room))], hidden), limit)
    return shorten(joined(lines[:best], len(lines) - best + unrendered), limit)
