"""Every benchmark's targets, in one place (this 2-core machine, bot in its own process)."""

from __future__ import annotations

# join_burst: joins/s against the bare /ping floor and the bare button floor of the same run
# (issue 10 asks 0.8x the button), and the slowest answers (issue 10: 50 ms).
JOIN_RATIO_TO_PING = 0.5
JOIN_RATIO_TO_BUTTON = 0.8
JOIN_P99_MS = 50.0
# Flat in N (issue 10): the same fans joining a line this long run at >= this share of their
# rate on an empty line.
FLAT_IN_N_LINE = 100_000
FLAT_IN_N_RATIO = 0.9
# Re-clicks (issue 10): with this share of presses by fans already on the line, >= this ratio
# to the button floor, each answered "already #k" with its place.
RECLICK_SHARE = 0.3
RECLICK_RATIO_TO_BUTTON = 0.7
# No growth per join once the first burst has filled discord.py's caches: the bot's RSS after
# further bursts, per join, stays under this (anything kept per join, e.g. an entry object,
# is several hundred bytes).
JOIN_GROWTH_BYTES_PER_JOIN = 256
# schedule_precision: how late the slowest scheduled posts leave.
SCHEDULE_P99_MS = 250.0
# reminder_fanout: fan-out time against its floor (requests at the global limit, DM opens at
# Discord's pace).
FANOUT_RATIO_TO_FLOOR = 1.15
# about_burst: a command without the database, against the bare /ping floor.
ABOUT_RATIO_TO_PING = 0.9
# link_pool: issuing a drop's links through the sandbox shop under Stripe's 25 requests/s per
# endpoint, against the floor of requests / limit.
LINK_POOL_RATIO_TO_FLOOR = 1.15
# claim_storm: claims/s against the bare /ping floor of the same run, and the slowest answers.
CLAIM_RATIO_TO_PING = 0.5
CLAIM_P99_MS = 100.0
# poll_burst: presses (option, then quantity) per second against the /ping floor, and the
# slowest answers; the same bar as a join.
POLL_RATIO_TO_PING = 0.5
POLL_P99_MS = 100.0
# insights_scale: /insights on 20 drops, 10,000 fans, 60,000 entries and 8,000 purchases, from
# injection to the final followup (issue 13: 2 s); joins keep being answered meanwhile.
INSIGHTS_SECONDS = 2.0
# Join p99 during /insights, as a share of drawing its 3 charts measured apart: drawn on the
# loop, every join arriving meanwhile would wait up to the whole drawing time.
INSIGHTS_JOIN_P99_SHARE_OF_CHARTS = 0.5
# scale_out: the claim storm on PostgreSQL through 2 bot processes (shards) against 1, on a
# 2-core machine shared with the sandbox.
SCALE_OUT_RATIO = 1.3
