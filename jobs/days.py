"""A record's UTC day (``YYYY-MM-DD``) from its logged timestamp: the key for day partitions and for
effective-dated prices, so both agree on which day a record belongs to."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_day(timestamp: str | None) -> str | None:
    """ISO 8601 (``Z``, an offset, or naive = UTC) or Unix epoch seconds/milliseconds; None if unreadable."""
    if not timestamp:
        return None
    text = timestamp.strip().strip('"')
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    else:
        if seconds > 1e11:  # epoch milliseconds (1e11 s is the year 5138)
            seconds /= 1000
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return moment.astimezone(UTC).date().isoformat()
