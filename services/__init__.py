"""The product's rules as plain Python: no Discord here (the cogs adapt Discord to these)."""
