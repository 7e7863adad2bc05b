"""The three insights charts: the drop's funnel, retention across the last drops, and each
recent cohort's repeat rate.

matplotlib through its Agg backend, a ``Figure`` per chart and no pyplot (no global state, so
charts drawn in two threads share nothing). It is CPU work: callers run :func:`render_charts`
off the event loop (``asyncio.to_thread``), as /poll results does.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from services.insights.rules import InsightsReport, rate, repeat_rate, retention_rate
from services.text import shorten
from storage.insights import DropMeasures

WIDTH, HEIGHT, DPI = 8.0, 4.5, 100  # 800 x 450 pixels
LABEL_LENGTH = 18


@dataclass(frozen=True)
class Drawn:
    png: bytes
    # What the bars show, label -> value, read back from the drawn bars (tests compare it with
    # the measures).
    bars: dict[str, float]


@dataclass(frozen=True)
class Charts:
    funnel: Drawn
    retention: Drawn
    cohorts: Drawn


def _figure() -> Figure:
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    # Fixed margins wide enough for the drop names: a tight_layout would draw it twice.
    figure.subplots_adjust(left=0.24, right=0.96, top=0.9, bottom=0.12)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _bars_of(
    container: BarContainer, labels: list[str], *, horizontal: bool = False
) -> dict[str, float]:
    values = [bar.get_width() if horizontal else bar.get_height() for bar in container.patches]
    return dict(zip(labels, (float(v) for v in values), strict=True))


def _nothing(axes: Axes, sentence: str) -> None:
    axes.text(0.5, 0.5, sentence, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _share(part: int, whole: int) -> str:
    share = rate(part, whole)
    return "" if share is None else f" ({share * 100:.0f} %)"


def funnel_chart(report: InsightsReport) -> Drawn:
    m = report.measures
    labels = ["Joined", "Pressed\nGet my link", "Paid"]
    counts = [m.joined, m.pressed, m.paid]
    figure = _figure()
    axes = figure.add_subplot()
    # Top to bottom, as a funnel reads.
    bars = axes.barh(labels[::-1], counts[::-1], color=["#57F287", "#FEE75C", "#5865F2"])
    shares = ["", _share(m.pressed, m.joined), _share(m.paid, m.pressed)]
    for y, (count, share) in enumerate(zip(counts[::-1], shares[::-1], strict=True)):
        axes.text(count, y, f" {count:,}{share}", va="center")
    axes.set_title(shorten(f"{m.name}: joined → pressed → paid", 80))
    axes.set_xlabel("fans")
    axes.margins(x=0.2)
    drawn = _bars_of(bars, labels[::-1], horizontal=True)
    return Drawn(_png(figure), drawn)


def _label(measures: DropMeasures) -> str:
    # The position keeps two drops of the same (shortened) name apart.
    return f"#{measures.position} {shorten(measures.name, LABEL_LENGTH)}"


def _percent_bars(
    axes: Axes, labels: list[str], values: list[float], notes: list[str]
) -> dict[str, float]:
    """Horizontal bars of shares (0..1) drawn as percentages, the oldest drop on top; what was
    drawn, as shares again. Upright labels: rotated text costs Agg several times more."""
    positions = list(range(len(labels)))[::-1]
    bars = axes.barh(positions, [v * 100 for v in values], color="#5865F2")
    for y, (value, note) in zip(positions, zip(values, notes, strict=True), strict=True):
        axes.text(value * 100, y, f" {note}", va="center", fontsize="small")
    axes.set_yticks(positions, labels, fontsize="small")
    axes.set_xlim(0, 115)
    axes.set_xlabel("%")
    return {label: width / 100 for label, width in _bars_of(bars, labels, horizontal=True).items()}


def _share_chart(
    title: str,
    shown: list[DropMeasures],
    share: Callable[[DropMeasures], float | None],
    note: Callable[[DropMeasures], str],
    empty: str,
) -> Drawn:
    """One bar per drop in ``shown``: ``share`` of it as a percentage, ``note`` beside it."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title(title)
    if not shown:
        _nothing(axes, empty)
        return Drawn(_png(figure), {})
    labels = [_label(m) for m in shown]
    values = [share(m) or 0.0 for m in shown]
    drawn = _percent_bars(axes, labels, values, [note(m) for m in shown])
    return Drawn(_png(figure), drawn)


def retention_chart(report: InsightsReport) -> Drawn:
    """Per recent drop with a next drop: the share of its active fans active again in it."""
    return _share_chart(
        "Active fans of each drop who were active again in the next",
        [m for m in report.recent if retention_rate(m) is not None],
        retention_rate,
        lambda m: f"{m.retained:,}/{m.active:,}",
        "No drop has a next drop yet.",
    )


def cohort_chart(report: InsightsReport) -> Drawn:
    """Per recent drop with first-time buyers: the share who bought again later."""
    return _share_chart(
        "First-time buyers of each drop who bought again in a later drop",
        [m for m in report.recent if m.cohort_size],
        repeat_rate,
        lambda m: f"{m.cohort_repeaters:,}/{m.cohort_size:,}",
        "Nobody has bought yet.",
    )


def render_charts(report: InsightsReport) -> Charts:
    return Charts(
        funnel=funnel_chart(report),
        retention=retention_chart(report),
        cohorts=cohort_chart(report),
    )
