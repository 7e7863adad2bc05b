"""Drops and their waitlists: the rules (``rules``), the service (``service``) and group-commit
joins (``joins``)."""
