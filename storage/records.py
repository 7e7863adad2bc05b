"""Rows as frozen dataclasses: what storage hands up to the services (never a SQLAlchemy Row)."""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from sqlalchemy import Row


class Record:
    """Mixin for frozen dataclasses built from a row with the same column names."""

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]]) -> Self:
        names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {key: value for key, value in row._mapping.items() if key in names}
        return cls(**values)
