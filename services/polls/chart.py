"""The results chart: committed units over time per option, against the goal line.

matplotlib through its Agg backend only (no display, no global pyplot state, so two charts
rendering in two threads do not share a figure). It is CPU work: callers run it off the event
loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from storage.polls import Poll, PollOption, TallyPoint

WIDTH, HEIGHT, DPI = 8.0, 4.5, 100  # 800 x 450 pixels


@dataclass(frozen=True)
class Chart:
    png: bytes
    # What was drawn, read back from the plotted lines: option name -> (x as matplotlib date
    # numbers, units). Tests compare it with the tally history.
    series: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    goal: float


def steps(
    poll: Poll, options: list[PollOption], history: list[TallyPoint], until: datetime
) -> dict[int, tuple[list[datetime], list[int]]]:
    """Each option's units over time: 0 at the poll's start, every recorded total, then flat
    to ``until`` (the closing, or now)."""
    series: dict[int, tuple[list[datetime], list[int]]] = {
        option.idx: ([poll.created_at], [0]) for option in options
    }
    for point in history:
        times, units = series[point.option_idx]
        times.append(point.at)
        units.append(point.units)
    for times, units in series.values():
        times.append(max(until, times[-1]))
        units.append(units[-1])
    return series


def render_chart(
    poll: Poll, options: list[PollOption], history: list[TallyPoint], until: datetime
) -> Chart:
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawn = steps(poll, options, history, until)
    for option in options:
        times, units = drawn[option.idx]
        axes.step(date2num(times), units, where="post", label=option.name)
    goal_line = axes.axhline(poll.goal, linestyle="--", color="grey", label=f"goal ({poll.goal:,})")
    axes.set_title(poll.question[:80])
    axes.set_ylabel("units committed")
    # Ticks in the poll's own zone, as fine as its span needs (a poll closed after a minute
    # would otherwise show the same "%H:%M" under every tick).
    zone = ZoneInfo(poll.timezone)
    locator = AutoDateLocator(tz=zone)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=zone))
    axes.set_xlabel(poll.timezone)
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    series = {
        str(line.get_label()): (
            tuple(float(x) for x in np.asarray(line.get_xdata(), dtype=float)),
            tuple(float(y) for y in np.asarray(line.get_ydata(), dtype=float)),
        )
        for line in axes.get_lines()
        if line is not goal_line
    }
    return Chart(buffer.getvalue(), series, float(poll.goal))
