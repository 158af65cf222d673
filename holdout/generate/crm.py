"""CRM profiles, loyalty members, support tickets and erasure requests, with the documented dirt."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from holdout.generate.activity import Counters, _prefixed, ts_text
from holdout.generate.calendar import COUNTRY_CODES, day_epoch_seconds
from holdout.generate.population import NEVER, customer_ids

FEMALE = [
    "Anna",
    "Emma",
    "Maja",
    "Sofia",
    "Laura",
    "Julia",
    "Marie",
    "Claire",
    "Elin",
    "Sara",
    "Olivia",
    "Lena",
    "Chloe",
    "Ines",
    "Aino",
    "Ella",
    "Hanna",
    "Lucia",
    "Grace",
    "Alice",
]
MALE = [
    "Erik",
    "Lars",
    "Jonas",
    "Lukas",
    "Thomas",
    "Pierre",
    "Daan",
    "Mikko",
    "Oliver",
    "James",
    "Carlos",
    "Noah",
    "Felix",
    "Hugo",
    "Leon",
    "Matti",
    "Liam",
    "Jan",
    "Paul",
    "Adam",
]
LAST = [
    "Smith",
    "Andersson",
    "Johansson",
    "Muller",
    "Schmidt",
    "Martin",
    "Bernard",
    "de Jong",
    "Virtanen",
    "Garcia",
    "Brown",
    "Nilsson",
    "Weber",
    "Dubois",
    "Jansen",
    "Korhonen",
    "Lopez",
    "Taylor",
    "Karlsson",
    "Fischer",
    "Lindqvist",
    "Wilson",
    "Moreau",
    "Bakker",
    "Nieminen",
    "Fernandez",
    "Evans",
    "Becker",
    "Petit",
    "Visser",
]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "post.example.org"]
CITIES = {
    "SE": ["Stockholm", "Gothenburg", "Malmo", "Uppsala"],
    "DE": ["Berlin", "Hamburg", "Munich", "Cologne"],
    "GB": ["London", "Manchester", "Leeds", "Bristol"],
    "FR": ["Paris", "Lyon", "Marseille", "Lille"],
    "NL": ["Amsterdam", "Rotterdam", "Utrecht"],
    "FI": ["Helsinki", "Espoo", "Tampere"],
    "US": ["New York", "Boston", "Chicago", "Seattle"],
    "ES": ["Madrid", "Barcelona", "Valencia"],
}
DIAL = {"SE": "46", "DE": "49", "GB": "44", "FR": "33", "NL": "31", "FI": "358", "US": "1", "ES": "34"}
FEMALE_SPELLINGS = ["F", "female", "W", "f", "Female", "FEMALE"]
MALE_SPELLINGS = ["M", "male", "m", "Male", "MALE"]

# documented dirt rates (README.md)
DUPLICATE_PROFILE_SHARE = 0.02
NULL_BIRTH_DATE, NULL_GENDER, NULL_CITY = 0.10, 0.08, 0.05
MIXED_CASE_EMAIL = 0.05


def crm_profiles(p: dict, seed: int, chunk: int, start: date, days: int) -> pa.Table:
    """CRM export for a chunk; also sets p['email'] (the address as the CRM holds it)."""
    rng = np.random.default_rng([seed, 2, chunk])
    n = len(p["number"])
    female = rng.random(n) < 0.56
    first = np.where(
        female,
        np.array(FEMALE)[rng.integers(0, len(FEMALE), n)],
        np.array(MALE)[rng.integers(0, len(MALE), n)],
    )
    last = np.array(LAST)[rng.integers(0, len(LAST), n)]
    local = np.char.add(np.char.add(np.char.lower(first), "."), np.char.replace(np.char.lower(last), " ", ""))
    domain = np.array(DOMAINS)[rng.integers(0, len(DOMAINS), n)]
    email = np.char.add(np.char.add(np.char.add(local, p["number"].astype(str)), "@"), domain).astype(object)
    mixed = rng.random(n) < MIXED_CASE_EMAIL
    email[mixed] = np.array([e.title() for e in email[mixed]], dtype=object)
    bad = np.flatnonzero(p["email_malformed"])
    for k, i in enumerate(bad):
        email[i] = (
            f"{local[i]}@" if k % 2 == 0 else f"{local[i]}.{domain[i]}"
        )  # 'anna.smith@', 'no-at-sign.com'
    test = np.flatnonzero(p["is_test_account"])
    email[test] = np.array([f"test+{x}@holdout.test" for x in p["number"][test]], dtype=object)
    p["email"] = email

    country = np.array(COUNTRY_CODES)[p["country"]]
    digits = rng.integers(10**8, 10**9, n).astype(str)
    fmt = rng.choice(7, size=n, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.13, 0.02])
    dial = np.array([DIAL[c] for c in country])
    phone = np.empty(n, dtype=object)
    for i in range(n):  # small per-customer strings; formats are the point here
        d, f = digits[i], fmt[i]
        phone[i] = (
            f"+{dial[i]}{d}",
            f"+{dial[i]} {d[:2]} {d[2:5]} {d[5:7]} {d[7:]}",
            f"0{d[:2]}-{d[2:]}",
            f"00{dial[i]} {d[:3]} {d[3:6]} {d[6:]}",
            f"(0{d[:2]}) {d[2:5]} {d[5:]}",
            None,
            ["n/a", "12345"][i % 2],
        )[f]
    age = np.clip(rng.normal(38, 12, n), 18, 85)
    birth = np.array([np.datetime64(start, "D")]) - (age * 365.25).astype("timedelta64[D]")
    birth_col = pa.array(birth.astype("datetime64[D]"), mask=rng.random(n) < NULL_BIRTH_DATE).cast(
        pa.string()
    )
    gender = np.where(
        female,
        np.array(FEMALE_SPELLINGS)[rng.integers(0, 6, n)],
        np.array(MALE_SPELLINGS)[rng.integers(0, 5, n)],
    ).astype(object)
    gender[rng.random(n) < 0.02] = "unknown"
    city = np.array(
        [CITIES[c][k % len(CITIES[c])] for c, k in zip(country, rng.integers(0, 4, n), strict=True)]
    )
    signup_date = (np.datetime64(start, "D") + p["signup_day"].astype("timedelta64[D]")).astype(str)
    signup_sec = day_epoch_seconds(start, p["signup_day"])
    upd = signup_sec + (rng.random(n) * (day_epoch_seconds(start, np.full(n, days)) - signup_sec - 1)).astype(
        np.int64
    )
    t = pa.table(
        {
            "customer_id": customer_ids(p["number"]),
            "email": pa.array(email, type=pa.string()),
            "phone": pa.array(phone, type=pa.string()),
            "first_name": pa.array(first),
            "last_name": pa.array(last),
            "birth_date": birth_col,
            "gender": pa.array(gender, type=pa.string(), mask=rng.random(n) < NULL_GENDER),
            "country": pa.array(country),
            "city": pa.array(city, mask=rng.random(n) < NULL_CITY),
            "signup_date": pa.array(signup_date),
            "is_test_account": pa.array(p["is_test_account"]),
            "updated_at": ts_text(upd),
        }
    )
    # CRM exported twice for some customers: a later row with a newer updated_at (and sometimes a new city)
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_PROFILE_SHARE)
    later = upd[dup] + (
        (day_epoch_seconds(start, np.full(len(dup), days)) - upd[dup]) * rng.random(len(dup))
    ).astype(np.int64)
    d = t.take(pa.array(dup)).set_column(11, "updated_at", ts_text(np.maximum(later, upd[dup] + 1)))
    order = np.argsort(np.concatenate([np.arange(n), dup]), kind="stable")
    return pa.concat_tables([t, d]).take(pa.array(order))


def erasure_requests(p: dict, start: date) -> pa.Table:
    pos = np.flatnonzero(p["end_day"] < NEVER)
    return pa.table(
        {
            "customer_id": customer_ids(p["number"][pos]),
            "requested_at": ts_text(
                day_epoch_seconds(start, p["end_day"][pos]) + (p["number"][pos] * 7919) % 86400
            ),
        }
    )


def loyalty_members(
    p: dict, seed: int, chunk: int, start: date, days: int, net_365: np.ndarray, orders: np.ndarray
) -> pa.Table:
    """Members among buyers; tier by net spend over the last 365 days (EUR)."""
    rng = np.random.default_rng([seed, 3, chunk])
    n = len(p["number"])
    pos = np.flatnonzero((orders > 0) & (rng.random(n) < 0.45) & (p["end_day"] >= NEVER))
    spend = net_365[pos]
    tier = np.select([spend >= 1500, spend >= 600, spend >= 200], ["platinum", "gold", "silver"], "bronze")
    enroll_lo = np.maximum(p["signup_day"][pos], -3 * 365)
    enrolled = day_epoch_seconds(start, enroll_lo) + (
        rng.random(len(pos)) * (days - enroll_lo) * 86400 * 0.5
    ).astype(np.int64)
    as_of = day_epoch_seconds(start, np.full(len(pos), days))
    return pa.table(
        {
            "customer_id": customer_ids(p["number"][pos]),
            "tier": pa.array(tier),
            "points_balance": pa.array((spend * 10 * rng.uniform(0.2, 1.0, len(pos))).astype(np.int64)),
            "enrolled_at": ts_text(enrolled),
            "updated_at": ts_text(as_of - rng.integers(3600, 86400 * 3, len(pos))),
        }
    )


def support_tickets(
    p: dict, seed: int, chunk: int, start: date, days: int, returns: np.ndarray, counters: Counters
) -> pa.Table:
    rng = np.random.default_rng([seed, 4, chunk])
    lo = np.maximum(p["signup_day"], 0)
    hi = np.minimum(p["end_day"], days)
    k = rng.poisson(0.08 + 0.25 * returns) * (hi > lo)
    pos = np.repeat(np.arange(len(k)), k)
    day = lo[pos] + (rng.random(len(pos)) * (hi[pos] - lo[pos])).astype(np.int64)
    category = rng.choice(
        ["delivery", "return", "payment", "product", "account"], size=len(pos), p=[0.3, 0.3, 0.1, 0.2, 0.1]
    )
    status = rng.choice(["closed", "open", "pending"], size=len(pos), p=[0.85, 0.1, 0.05])
    score = rng.choice([1, 2, 3, 4, 5], size=len(pos), p=[0.08, 0.1, 0.2, 0.32, 0.3])
    score = np.where(category == "return", np.maximum(score - 1, 1), score)
    return pa.table(
        {
            "ticket_id": _prefixed("T", counters.take("ticket", len(pos)), 8),
            "customer_id": customer_ids(p["number"][pos]),
            "created_at": ts_text(day_epoch_seconds(start, day) + rng.integers(25000, 75000, len(pos))),
            "category": pa.array(category),
            "status": pa.array(status),
            "satisfaction_score": pa.array(score, mask=(status != "closed") | (rng.random(len(pos)) < 0.3)),
        }
    )
