"""The profile's top table, from py-spy's collapsed stacks."""

from __future__ import annotations

from bench.profile import top_table


def test_top_table_counts_inclusive_and_self_shares() -> None:
    collapsed = "\n".join(
        [
            "main (bot.py:1);join (joins.py:9);execute (sqlite.py:3) 6",
            "main (bot.py:1);join (joins.py:9) 2",
            "main (bot.py:1);send (http.py:4) 2",
            "not a stack line",
        ]
    )
    table = top_table(collapsed).splitlines()
    assert table[0] == "10 samples at 250/s"
    inclusive = table[table.index("  share  on the stack (inclusive)") + 1 :][:3]
    assert inclusive == [" 100.0%  main", "  80.0%  join", "  60.0%  execute"]
    own = table[table.index("  share  on top (self)") + 1 :]
    assert own == ["  60.0%  execute", "  20.0%  join", "  20.0%  send"]
