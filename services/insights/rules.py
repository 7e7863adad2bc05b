"""What an insights report holds, which drops it covers, and the refusals.

The figures come from the database (:mod:`storage.insights`); here they are picked for one drop
and turned into rates. A rate is ``None`` where its denominator is zero or not defined yet (a
drop with no next drop has no retention).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import UserError
from storage.drops import Drop
from storage.insights import DropMeasures
from storage.preorder_interest import PreorderInterest
from storage.states import DropStatus

# The charts of retention and cohorts show at most this many drops, ending at the one asked.
CHART_DROPS = 10

NO_OPENED_DROP = (
    "No drop of this server has opened yet, so there is nothing to measure; pick a drop with "
    "the drop option once fans have joined it."
)


@dataclass(frozen=True)
class InsightsReport:
    drop: Drop
    measures: DropMeasures
    # The server's drops (cancelled left out) from the first up to this one, in order.
    history: tuple[DropMeasures, ...]
    next_drop: DropMeasures | None
    preorder: PreorderInterest | None

    @property
    def recent(self) -> tuple[DropMeasures, ...]:
        """The last drops the charts show, this one included."""
        return self.history[-CHART_DROPS:]

    @property
    def previous(self) -> DropMeasures | None:
        return self.history[-2] if len(self.history) > 1 else None


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def retention_rate(measures: DropMeasures) -> float | None:
    """Share of the drop's active fans active again in the next drop (None: no next drop)."""
    if measures.next_drop_id is None:
        return None
    return rate(measures.retained, measures.active)


def repeat_rate(measures: DropMeasures) -> float | None:
    return rate(measures.cohort_repeaters, measures.cohort_size)


def has_activity(measures: DropMeasures, preorder: PreorderInterest | None) -> bool:
    committed = preorder is not None and any(option.fans for option in preorder.options)
    return bool(measures.joined or measures.pressed or measures.active or committed)


def build_report(
    drop: Drop, everything: list[DropMeasures], preorder: PreorderInterest | None
) -> InsightsReport:
    """The report for ``drop`` from the server's measures; a sentence if there is none."""
    if drop.status == DropStatus.CANCELLED:
        raise UserError(f"**{drop.name}** was cancelled, so it has no insights; pick another drop.")
    position = next(i for i, measures in enumerate(everything) if measures.drop_id == drop.id)
    measures = everything[position]
    if not has_activity(measures, preorder):
        raise UserError(
            f"**{drop.name}** has no activity yet (nobody joined, committed or bought); ask "
            "again once fans have."
        )
    following = everything[position + 1] if position + 1 < len(everything) else None
    return InsightsReport(
        drop=drop,
        measures=measures,
        history=tuple(everything[: position + 1]),
        next_drop=following,
        preorder=preorder,
    )
