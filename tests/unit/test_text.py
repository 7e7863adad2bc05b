"""Wording helpers: plurals, and lists that always fit in one Discord message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.text import MESSAGE_LIMIT, fit_lines, plural


def test_plural() -> None:
    assert [plural(n, "day") for n in (0, 1, 2)] == ["0 days", "1 day", "2 days"]
    assert plural(1_000, "fan") == "1,000 fans"
    assert plural(2, "entry", "entries") == "2 entries"


def test_fit_lines_keeps_what_fits_and_counts_the_rest() -> None:
    lines = [f"item {i} " + "x" * 90 for i in range(50)]
    text = fit_lines(lines, head="Your list:")
    assert len(text) <= MESSAGE_LIMIT
    shown = [line for line in text.splitlines() if line.startswith("item ")]
    assert shown == lines[: len(shown)] and 15 <= len(shown) < 50
    assert text.splitlines()[-1] == f"…and {50 - len(shown)} more."
    assert fit_lines(["a", "b"]) == "a\nb"


@given(
    st.lists(st.text(min_size=0, max_size=3000), max_size=300),
    st.text(max_size=300),
    st.text(max_size=300),
)
def test_any_list_fits_in_one_message(lines: list[str], head: str, tail: str) -> None:
    text = fit_lines(lines, head=head, tail=tail)
    assert len(text) <= MESSAGE_LIMIT
    if lines:
        # Something of the list is always shown: the first line, whole or shortened.
        assert lines[0][:10] in text
