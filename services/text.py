"""Small wording helpers, so every sentence counts the same way."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "day")`` -> "1 day"; ``plural(3, "day")`` -> "3 days" (``many`` if irregular)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
