"""What a poll may be, and the sentence for each thing it may not be. Nothing here stores."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from services.errors import UserError
from services.localtime import parse_local
from services.text import shorten

MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_NAME = 55  # an option's name is its button label too, with room for the price
MAX_QUESTION = 200
MAX_PRICE_CENTS = 100_000_000  # a million: anything above is a typo, not a pre-order
# The goal is stored in an Integer column (PostgreSQL: at most 2^31 - 1) and compared with sums
# of commitments; a micro-drop's goal above a million units is a typo. Same bound as a drop's
# stock (services.drops.rules.MAX_STOCK).
MAX_GOAL = 1_000_000
QUANTITIES = (1, 2, 3, 4, 5)
_AMOUNT = re.compile(r"\d+(?:[.,]\d{1,2})?")


@dataclass(frozen=True)
class OptionSpec:
    name: str
    price_cents: int | None


@dataclass(frozen=True)
class PollSpec:
    question: str
    options: tuple[OptionSpec, ...]
    goal: int
    closes_at: datetime
    timezone: str


def parse_price(text: str, name: str, currency: str) -> int:
    """A positive amount with at most two decimals, in cents."""
    cleaned = text.strip().removeprefix(currency).removesuffix(currency).strip()
    problem = UserError(
        f"{text.strip()!r} is not a price for **{name}**; write a positive amount such as 35 "
        f"or 35.50 (in {currency}), or leave out `@ price`."
    )
    if not _AMOUNT.fullmatch(cleaned):
        raise problem
    try:
        cents = int(Decimal(cleaned.replace(",", ".")) * 100)
    except InvalidOperation:
        raise problem from None
    if cents <= 0 or cents > MAX_PRICE_CENTS:
        raise problem
    return cents


def parse_options(text: str, currency: str) -> tuple[OptionSpec, ...]:
    """``Name @ price; Name @ price; …`` (price optional) into options, or one sentence."""
    parts = [part.strip() for part in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()  # "A; B;" ends with a separator, not an empty option
    if not MIN_OPTIONS <= len(parts) <= MAX_OPTIONS:
        raise UserError(
            f"A poll needs {MIN_OPTIONS} to {MAX_OPTIONS} options separated by `;` "
            f"(such as `Tee @ 35; Hoodie @ 60`); you gave {len(parts)}."
        )
    options: list[OptionSpec] = []
    seen: dict[str, str] = {}
    for number, part in enumerate(parts, start=1):
        name, at, price_text = part.partition("@")
        name = " ".join(name.split())
        if not name:
            raise UserError(f"Option {number} has no name; write it as `Name @ price`.")
        if len(name) > MAX_NAME:
            raise UserError(
                f"The option name {shorten(name, 30)!r} is {len(name)} characters; keep each "
                f"name to {MAX_NAME} or fewer."
            )
        key = name.casefold()
        if key in seen:
            raise UserError(f"**{name}** is listed twice; give each option its own name.")
        seen[key] = name
        price = parse_price(price_text, name, currency) if at else None
        options.append(OptionSpec(name, price))
    return tuple(options)


def validate(
    question: str,
    options_text: str,
    goal: int,
    closes_at: str,
    timezone: str,
    now: datetime,
    currency: str,
) -> PollSpec:
    question = " ".join(question.split())
    if not question or len(question) > MAX_QUESTION:
        raise UserError(f"Ask a question of 1 to {MAX_QUESTION} characters.")
    options = parse_options(options_text, currency)
    if goal < 1:
        raise UserError(
            f"The goal is the total units that make it worth producing; it must be at least 1, "
            f"not {goal}."
        )
    if goal > MAX_GOAL:
        raise UserError(
            f"The goal can be at most {MAX_GOAL:,} units; you gave {goal:,}. Pick the number of "
            "units that makes it worth producing."
        )
    closing = parse_local(closes_at, timezone)  # refuses daylight-saving gaps and overlaps
    if closing <= now:
        raise UserError(
            f"{closes_at.strip()} in {timezone.strip()} is already past; pick a closing time in "
            "the future."
        )
    return PollSpec(question, options, goal, closing, timezone.strip())


def price_text(cents: int | None, currency: str) -> str:
    if cents is None:
        return ""
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"
