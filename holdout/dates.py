"""The one rule for a date written by a person (a campaign spec, `--date`, a landing zone's `_export.json`):
YYYY-MM-DD, a day the calendar has, in years where date arithmetic (response windows, schedules, caps) cannot
overflow. Kept free of heavy imports: `holdout.warehouse.as_of_date` reads it on every command."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

DATE_YEARS = (1900, 2999)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date(text: str) -> date:
    """A date written YYYY-MM-DD (not the compact or week forms `date.fromisoformat` also takes), in DATE_YEARS;
    ValueError says what is wrong."""
    value = text.strip()
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(f"must be a date YYYY-MM-DD, got {text!r}")
    parsed = date.fromisoformat(value)  # ValueError for a day the calendar does not have
    return in_date_years(parsed)


def in_date_years(value: date) -> date:
    """`value` unless its year is outside DATE_YEARS (ValueError)."""
    if not DATE_YEARS[0] <= value.year <= DATE_YEARS[1]:
        raise ValueError(
            f"must be a date in the years {DATE_YEARS[0]}-{DATE_YEARS[1]}, got {value.isoformat()}"
        )
    return value


def as_written_date(value: Any) -> date:
    """A date field of a typed file (the typed readers wrap it in pydantic's BeforeValidator): a YAML date or a YYYY-MM-DD string (`iso_date`), never an integer (a lax
    pydantic date would read 0 as 1970-01-01, a Unix timestamp)."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return in_date_years(value)
    if isinstance(value, str):
        return iso_date(value)
    raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}")
