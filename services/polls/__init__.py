"""Pre-order validation polls: options with prices, committed units, a goal, closing, results."""
