"""One reading of a timestamp for rendering eras, day partitions and prices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tokcount_core import count
from tokcount_core.dates import utc_date


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-03-10T23:30:00-05:00", date(2025, 3, 11)),  # an offset: the UTC day, not the local one
    ("2025-03-11T01:00:00+02:00", date(2025, 3, 10)),
    ("2025-03-10T23:30:00Z", date(2025, 3, 10)),
    ("2025-03-10T23:30:00", date(2025, 3, 10)),  # naive means UTC
    ('"2025-03-10"', date(2025, 3, 10)),  # a JSON string column keeps its quotes
    ("2025-03-10 at noon", date(2025, 3, 10)),  # only starts with a date
    ("1741649400", date(2025, 3, 10)),  # epoch seconds as digits
    ("1741649400000", date(2025, 3, 10)),  # and milliseconds
    (1741649400.5, date(2025, 3, 10)),
    (datetime(2025, 3, 10, 23, 30, tzinfo=timezone(timedelta(hours=-5))), date(2025, 3, 11)),
    (datetime(2025, 3, 10, 23, 30), date(2025, 3, 10)),
    (date(2025, 3, 10), date(2025, 3, 10)),
    ("yesterday", None), ("", None), (None, None), (True, None), ("1e400", None),
])
def test_utc_date_reads_every_logged_form(value, expected):
    assert utc_date(value) == expected


def test_the_count_follows_the_utc_day_of_an_offset_timestamp():
    """web_search's +294 holds only before 2026-03-17 (UTC): 2026-03-16 19:00 at -05:00 is already the 17th."""
    body = {"model": "gpt-4o", "input": "hi", "tools": [{"type": "web_search"}]}
    local_evening = count(body, as_of="2026-03-16T19:00:00-05:00")
    assert local_evening.input_tokens == count(body, as_of=date(2026, 3, 17)).input_tokens
    assert local_evening.estimate_reasons == count(body, as_of=date(2026, 3, 17)).estimate_reasons
    assert count(body, as_of=datetime(2026, 3, 16, 23, tzinfo=UTC)).estimate_reasons == []
