"""Collector tiers: roles earned by purchases, the queue that grants them, fans' profiles."""
