"""Calendar effects shared by the generator and the simulator: seasons, e-mail campaigns, store time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

EPOCH = date(1970, 1, 1)

# country -> (currency, store time zone, population share)
COUNTRIES: dict[str, tuple[str, str, float]] = {
    "SE": ("SEK", "Europe/Stockholm", 0.25),
    "DE": ("EUR", "Europe/Berlin", 0.20),
    "GB": ("GBP", "Europe/London", 0.15),
    "FR": ("EUR", "Europe/Paris", 0.10),
    "NL": ("EUR", "Europe/Amsterdam", 0.08),
    "FI": ("EUR", "Europe/Helsinki", 0.07),
    "US": ("USD", "America/New_York", 0.10),
    "ES": ("EUR", "Europe/Madrid", 0.05),
}
COUNTRY_CODES = list(COUNTRIES)
COUNTRY_SHARES = np.array([v[2] for v in COUNTRIES.values()])
FX_RATES = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92, "SEK": 0.087}  # rate_to_eur
CURRENCY_OF_COUNTRY = np.array([COUNTRIES[c][0] for c in COUNTRY_CODES])
RATE_OF_COUNTRY = np.array([FX_RATES[COUNTRIES[c][0]] for c in COUNTRY_CODES])


def day_epoch_seconds(start: date, day_index: np.ndarray) -> np.ndarray:
    """Unix seconds of midnight UTC of start + day_index."""
    return ((start - EPOCH).days + day_index.astype(np.int64)) * 86400


def black_friday(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 21)


@lru_cache(maxsize=64)
def season_arrays(start: date, d0: int, d1: int) -> tuple[np.ndarray, np.ndarray]:
    """Sale intensity and gift-season intensity per day in [d0, d1) (days counted from start)."""
    n = d1 - d0
    sale = np.zeros(n)
    gift = np.zeros(n)
    for j in range(n):
        day = start + timedelta(days=d0 + j)
        bf = black_friday(day.year)
        if bf - timedelta(days=4) <= day <= bf + timedelta(days=3):
            sale[j] = 1.0  # black week through cyber monday
        elif (
            (day.month == 6 and day.day >= 20)
            or day.month == 7
            or (day.month == 12 and day.day >= 26)
            or (day.month == 1 and day.day <= 20)
        ):
            sale[j] = 0.6
        if day.month == 12 and day.day <= 22:
            gift[j] = 1.0
        elif day.month == 2 and 7 <= day.day <= 13:
            gift[j] = 0.4
        elif day.month == 5 and 1 <= day.day <= 10:
            gift[j] = 0.3
    sale.flags.writeable = False
    gift.flags.writeable = False
    return sale, gift


@lru_cache(maxsize=64)
def utc_offsets_minutes(start: date, d0: int, d1: int) -> np.ndarray:
    """Store UTC offset (minutes) per country (rows) and day (columns), taken at noon UTC."""
    out = np.zeros((len(COUNTRY_CODES), d1 - d0), dtype=np.int64)
    for ci, code in enumerate(COUNTRY_CODES):
        tz = ZoneInfo(COUNTRIES[code][1])
        for j in range(d1 - d0):
            day = start + timedelta(days=d0 + j)
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            out[ci, j] = int(noon.astimezone(tz).utcoffset().total_seconds() // 60)
    out.flags.writeable = False
    return out


def email_campaigns(start: date, d0: int, d1: int) -> list[tuple[int, str, str, float]]:
    """The retailer's own e-mail calendar in [d0, d1): (day, campaign_code, kind, share of subscribers reached)."""
    out: list[tuple[int, str, str, float]] = []
    for d in range(d0, d1):
        day = start + timedelta(days=d)
        bf = black_friday(day.year)
        if day.weekday() == 3:
            out.append((d, f"newsletter_{day:%Y%m%d}", "newsletter", 0.15))
        if day == bf - timedelta(days=4):
            out.append((d, f"sale_blackweek_{day.year}", "sale", 0.5))
        if day == bf + timedelta(days=3):
            out.append((d, f"sale_cybermonday_{day.year}", "sale", 0.4))
        if (day.month, day.day) in ((6, 20), (7, 5)):
            out.append((d, f"sale_summer_{day:%Y%m%d}", "sale", 0.45))
        if (day.month, day.day) in ((12, 26), (1, 8)):
            out.append((d, f"sale_winter_{day:%Y%m%d}", "sale", 0.45))
        if (day.month, day.day) in ((12, 1), (12, 8), (12, 15)):
            out.append((d, f"gift_xmas_{day:%Y%m%d}", "gift", 0.5))
        if (day.month, day.day) == (2, 5):
            out.append((d, f"gift_valentine_{day.year}", "gift", 0.4))
        if (day.month, day.day) == (5, 2):
            out.append((d, f"gift_mothersday_{day.year}", "gift", 0.4))
    return out
