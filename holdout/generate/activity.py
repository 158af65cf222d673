"""Orders, order lines, web sessions and e-mail events for one chunk of customers over a range of days.

Both the generator and the simulator call these functions, so new days come from the same latent rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from holdout.generate.calendar import (
    CURRENCY_OF_COUNTRY,
    RATE_OF_COUNTRY,
    day_epoch_seconds,
    email_campaigns,
    season_arrays,
    utc_offsets_minutes,
)
from holdout.generate.catalog import DEPARTMENTS, Catalog
from holdout.generate.population import customer_ids
from holdout.generate.rates import (
    CANCEL_SHARE,
    DISCOUNT_DEPTHS,
    MAX_EXTRA_LINES,
    QTY_PROBS,
    QTY_VALUES,
    RETURN_RATE,
    Treatments,
    basket_p,
    daily_rate,
    discount_prob,
)

DAY_BLOCK = 61  # days per rate matrix, bounds memory to chunk x 61 floats
HOUR_WEIGHTS = np.array(
    [
        1,
        0.5,
        0.3,
        0.2,
        0.2,
        0.3,
        0.8,
        1.5,
        2.5,
        3,
        3.2,
        3.5,
        4,
        3.8,
        3.5,
        3.5,
        3.8,
        4.2,
        5,
        5.5,
        5.8,
        5,
        3.5,
        2.0,
    ]
)
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
SALES_CHANNELS = np.array(["web", "app", "store"])
DEVICES = np.array(["mobile", "desktop", "tablet"])
LATE_SHARE = 0.03
WEB_DUPLICATE_SHARE = 0.005
EMAIL_DUPLICATE_SHARE = 0.01
ANON_COOKIES_PER_CUSTOMER_YEAR = 0.08
LOGIN_SHARE = 0.25  # sessions that log in; the other sessions of a cookie are resolved through it


@dataclass
class Counters:
    """Running ids, persisted in ground_truth/meta.json so appended files never reuse an id."""

    order: int = 0
    line: int = 0
    web_event: int = 0
    email_event: int = 0
    anon_cookie: int = 0
    ticket: int = 0

    def take(self, name: str, n: int) -> np.ndarray:
        first = getattr(self, name)
        setattr(self, name, first + n)
        return np.arange(first + 1, first + n + 1, dtype=np.int64)


@dataclass
class Extra:
    """Campaign e-mail sends the simulator adds: (pos in chunk, day, campaign_code)."""

    pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))


def _prefixed(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return pc.binary_join_element_wise(
        prefix, pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0"), ""
    )


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=pa.timestamp("us"))


def ts_text(seconds: np.ndarray) -> pa.Array:
    return pc.strftime(pa.array(seconds.astype(np.int64), type=pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")


def _utc_second_of_day(rng: np.random.Generator, offset_min: np.ndarray) -> np.ndarray:
    """Seconds after UTC midnight for events whose *local* hour follows a shopping-day profile."""
    local = rng.choice(24, size=len(offset_min), p=HOUR_P) * 3600 + rng.integers(0, 3600, len(offset_min))
    return (local - offset_min * 60) % 86400


def _expand(counts: np.ndarray, d0: int) -> tuple[np.ndarray, np.ndarray]:
    ci, dj = np.nonzero(counts)
    reps = counts[ci, dj]
    return np.repeat(ci, reps), d0 + np.repeat(dj, reps)


def _pick_departments(rng: np.random.Generator, pref_cum: np.ndarray, cust: np.ndarray) -> np.ndarray:
    u = rng.random(len(cust))
    return np.minimum((u[:, None] > pref_cum[cust]).sum(axis=1), len(DEPARTMENTS) - 1)


def _pref_cum(p: dict) -> np.ndarray:
    return np.cumsum(np.stack([p[f"pref_{k}"] for k in DEPARTMENTS], axis=1), axis=1)


# ------------------------------------------------------------------------------------------------ orders
def generate_orders(p, cat: Catalog, start: date, d0: int, d1: int, rng, treat: Treatments | None) -> dict:
    """Raw order and line arrays (no ids yet) for days [d0, d1)."""
    pref_cum = _pref_cum(p)
    parts = []
    for b0 in range(d0, d1, DAY_BLOCK):
        b1 = min(b0 + DAY_BLOCK, d1)
        lam = daily_rate(p, start, b0, b1, treat)
        ci, day = _expand(rng.poisson(lam), b0)
        xi, xday = _expand(rng.poisson(lam * CANCEL_SHARE), b0)
        bp = basket_p(p, b0, b1, treat)
        sale, _ = season_arrays(start, b0, b1)
        cust = np.concatenate([ci, xi])
        oday = np.concatenate([day, xday])
        completed = np.concatenate([np.ones(len(ci), bool), np.zeros(len(xi), bool)])
        nlines = 1 + rng.binomial(MAX_EXTRA_LINES, bp[cust, oday - b0])
        lo = np.repeat(np.arange(len(cust)), nlines)  # line -> order position in block
        lc, lday = cust[lo], oday[lo]
        dept = _pick_departments(rng, pref_cum, lc)
        want_new = rng.random(len(lo)) < p["new_collection_appetite"][lc]
        prod = cat.pick(dept, lday, want_new, rng.random(len(lo)))
        qty = rng.choice(QTY_VALUES, size=len(lo), p=QTY_PROBS)
        disc = rng.random(len(lo)) < discount_prob(p["discount_sensitivity"][lc], sale[lday - b0])
        depth = np.where(disc, DISCOUNT_DEPTHS[rng.integers(0, len(DISCOUNT_DEPTHS), len(lo))], 0.0)
        if treat is not None and len(treat.pos) and treat.offer_discount.max() > 0:
            # a treated customer redeems the campaign's price offer on every line in the window
            floor = treat.discount_floor(len(p["number"]), b0, b1)
            depth = np.maximum(depth, floor[lc, lday - b0])
        returned = (rng.random(len(lo)) < RETURN_RATE) & completed[lo]
        offs = utc_offsets_minutes(start, b0, b1)[p["country"][cust], oday - b0]
        sec = day_epoch_seconds(start, oday) + _utc_second_of_day(rng, offs)
        parts.append(
            dict(
                cust=cust,
                day=oday,
                completed=completed,
                offset=offs,
                sec=sec,
                channel=rng.choice(3, size=len(cust), p=[0.6, 0.27, 0.13]),
                late=rng.random(len(cust)) < LATE_SHARE,
                delay=rng.uniform(300, 6 * 3600, len(cust)),
                late_delay=rng.uniform(86400, 10 * 86400, len(cust)),
                l_order=lo,
                l_prod=prod,
                l_qty=qty,
                l_depth=depth,
                l_returned=returned,
            )
        )
    out: dict = {}
    shift = 0
    for part in parts:
        part["l_order"] = part["l_order"] + shift
        shift += len(part["cust"])
    for key in parts[0] if parts else []:
        out[key] = np.concatenate([pt[key] for pt in parts])
    # order ids follow time so ids grow with ordered_at
    order = np.argsort(out["sec"], kind="stable") if out else np.zeros(0, dtype=np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    for key in ("cust", "day", "completed", "offset", "sec", "channel", "late", "delay", "late_delay"):
        out[key] = out[key][order]
    out["l_order"] = rank[out["l_order"]]
    lorder = np.argsort(out["l_order"], kind="stable")
    for key in ("l_order", "l_prod", "l_qty", "l_depth", "l_returned"):
        out[key] = out[key][lorder]
    out["loaded"] = out["sec"] + np.where(out["late"], out["late_delay"], out["delay"]).astype(np.int64)
    return out


def order_tables(p, cat: Catalog, o: dict, counters: Counters) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """Arrow tables for orders and lines (ids from counters) and each line's net revenue in EUR."""
    n, nl = len(o["cust"]), len(o["l_order"])
    onum = counters.take("order", n)
    lnum = counters.take("line", nl)
    local = (o["sec"] + o["offset"] * 60).astype(np.int64)
    sign = np.where(o["offset"] < 0, "-", "+")
    a = np.abs(o["offset"])
    off_txt = pc.binary_join_element_wise(
        pa.array(sign),
        pc.utf8_lpad(pc.cast(pa.array(a // 60), pa.string()), 2, "0"),
        pc.utf8_lpad(pc.cast(pa.array(a % 60), pa.string()), 2, "0"),
        "",
    )
    off_txt = pc.replace_substring_regex(off_txt, r"^([+-]\d\d)(\d\d)$", r"\1:\2")
    ordered_at = pc.binary_join_element_wise(
        pc.strftime(pa.array(local, type=pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S"), off_txt, ""
    )
    country = p["country"][o["cust"]]
    orders = pa.table(
        {
            "order_id": _prefixed("O", onum, 9),
            "customer_id": customer_ids(p["number"][o["cust"]]),
            "ordered_at": ordered_at,
            "currency": pa.array(CURRENCY_OF_COUNTRY[country]),
            "sales_channel": pa.array(SALES_CHANNELS[o["channel"]]),
            "status": pa.array(np.where(o["completed"], "completed", "cancelled")),
            "_loaded_at": _ts(o["loaded"]),
        }
    )
    rate = RATE_OF_COUNTRY[country[o["l_order"]]]
    list_local = np.round(cat.list_price[o["l_prod"]] / rate, 2)
    paid_local = np.round(list_local * (1.0 - o["l_depth"]), 2)
    lines = pa.table(
        {
            "order_line_id": _prefixed("L", lnum, 10),
            "order_id": pc.take(orders.column("order_id"), pa.array(o["l_order"])),
            "product_id": pa.array(cat.product_id[o["l_prod"]]),
            "quantity": pa.array(o["l_qty"].astype(np.int32)),
            "list_price_local": pa.array(list_local),
            "paid_price_local": pa.array(paid_local),
            "is_returned": pa.array(o["l_returned"]),
        }
    )
    net = paid_local * rate * o["l_qty"] * (~o["l_returned"]) * o["completed"][o["l_order"]]
    return orders, lines, net


# ------------------------------------------------------------------------------------------------ web
def generate_web(p, cat: Catalog, start: date, d0: int, d1: int, rng, treat, counters: Counters) -> pa.Table:
    """Web events: sessions at k_i * lambda_i(d) per day, plus anonymous visitors who never log in."""
    pref_cum = _pref_cum(p)
    n = len(p["number"])
    tables = []
    for b0 in range(d0, d1, DAY_BLOCK):
        b1 = min(b0 + DAY_BLOCK, d1)
        lam = daily_rate(p, start, b0, b1, treat)
        lam *= p["k_browse"][:, None]
        si, sday = _expand(rng.poisson(lam), b0)
        offs = utc_offsets_minutes(start, b0, b1)[p["country"][si], sday - b0]
        s_sec = day_epoch_seconds(start, sday) + _utc_second_of_day(rng, offs)
        j = np.minimum((rng.random(len(si)) * p["n_cookies"][si]).astype(np.int64), p["n_cookies"][si] - 1)
        s_cookie = _prefixed("ck", p["number"][si] * 4 + j, 9)
        s_device = (p["number"][si] + j) % 3
        s_cust = si
        # anonymous visitors
        n_anon = int(round(ANON_COOKIES_PER_CUSTOMER_YEAR * n * (b1 - b0) / 365))
        a_sessions = rng.integers(1, 4, n_anon)
        a_idx = np.repeat(np.arange(n_anon), a_sessions)
        a_num = counters.take("anon_cookie", n_anon)
        a_day = rng.integers(b0, b1, len(a_idx))
        a_sec = day_epoch_seconds(start, a_day) + rng.integers(0, 86400, len(a_idx))
        cookie = pa.chunked_array([s_cookie, _prefixed("an", a_num[a_idx], 9)]).combine_chunks()
        sec = np.concatenate([s_sec, a_sec])
        device = np.concatenate([s_device, a_num[a_idx] % 3])
        cust = np.concatenate([s_cust, np.full(len(a_idx), -1)])
        day = np.concatenate([sday, a_day])
        ns = len(sec)
        # events per session
        known = cust >= 0
        login = known & (rng.random(ns) < LOGIN_SHARE)
        kinds = [
            ("session_start", np.arange(ns), np.zeros(ns, dtype=np.int64)),
            ("login", np.flatnonzero(login), None),
        ]
        pv = rng.poisson(0.25, ns)
        kinds.append(("product_view", np.repeat(np.arange(ns), pv), None))
        kinds.append(("category_view", np.flatnonzero(rng.random(ns) < 0.08), None))
        kinds.append(("page_view", np.flatnonzero(rng.random(ns) < 0.03), None))
        kinds.append(("add_to_cart", np.flatnonzero(rng.random(ns) < 0.04), None))
        ev_sess = np.concatenate([k[1] for k in kinds])
        ev_type = np.concatenate([np.full(len(k[1]), k[0]) for k in kinds])
        delay = rng.integers(5, 1500, len(ev_sess))
        delay[:ns] = 0
        # a session never spills into the next day: exported days stay whole
        ev_sec = np.minimum(sec[ev_sess] + delay, day_epoch_seconds(start, day[ev_sess]) + 86399)
        # product/category/department for browsing events
        needs_product = np.isin(ev_type, ["product_view", "add_to_cart", "category_view"])
        ec = cust[ev_sess]
        prod = np.full(len(ev_sess), -1, dtype=np.int64)
        m = needs_product & (ec >= 0)
        if m.any():
            dept = _pick_departments(rng, pref_cum, ec[m])
            want = rng.random(m.sum()) < np.minimum(1.0, 1.3 * p["new_collection_appetite"][ec[m]])
            prod[m] = cat.pick(dept, day[ev_sess][m], want, rng.random(m.sum()))
        m = needs_product & (ec < 0)
        if m.any():
            dept = rng.integers(0, len(DEPARTMENTS), m.sum())
            prod[m] = cat.pick(dept, day[ev_sess][m], rng.random(m.sum()) < 0.3, rng.random(m.sum()))
        has = prod >= 0
        is_cat = ev_type == "category_view"
        pidx = pa.array(np.where(has, prod, 0), mask=~has | is_cat)
        cidx = pa.array(np.where(has, prod, 0), mask=~has)
        cust_ids = customer_ids(p["number"][np.where(ec >= 0, ec, 0)])
        cust_ids = pc.if_else(pa.array(ev_type == "login"), cust_ids, pa.nulls(len(ev_sess), pa.string()))
        t = pa.table(
            {
                "event_id": pa.array(np.zeros(len(ev_sess), dtype=np.int64)),
                "cookie_id": pc.take(cookie, pa.array(ev_sess)),
                "customer_id": cust_ids,
                "event_type": pa.array(ev_type),
                "event_at": _ts(ev_sec),
                "product_id": pc.take(pa.array(cat.product_id), pidx),
                "category": pc.take(pa.array(cat.category), cidx),
                "department": pc.take(pa.array(np.array(DEPARTMENTS)[cat.department]), cidx),
                "device": pa.array(DEVICES[device[ev_sess]]),
            }
        )
        t = t.take(pa.array(np.argsort(ev_sec, kind="stable")))
        t = t.set_column(0, "event_id", pa.array(counters.take("web_event", t.num_rows)))
        dup = np.flatnonzero(rng.random(t.num_rows) < WEB_DUPLICATE_SHARE)
        tables.append(pa.concat_tables([t, t.take(pa.array(dup))]))
    return pa.concat_tables(tables) if tables else None


# ------------------------------------------------------------------------------------------------ e-mail
def _lapse_factor(p, d: int) -> np.ndarray:
    return np.exp(-np.clip(d - p["lapse_day"], 0, None) / p["lapse_tau"])


def email_variants(emails: np.ndarray) -> pa.Array:
    """Five spellings of each address, stacked: as is, Title, UPPER, padded, padded Title."""
    base = pc.utf8_lower(pa.array(emails, type=pa.string()))
    title = pc.utf8_title(base)
    return pa.chunked_array(
        [
            base,
            title,
            pc.utf8_upper(base),
            pc.binary_join_element_wise(" ", base, " ", ""),
            pc.binary_join_element_wise("  ", title, ""),
        ]
    ).combine_chunks()


VARIANT_P = np.array([0.70, 0.12, 0.05, 0.08, 0.05])


def generate_email(
    p, start: date, d0: int, d1: int, rng, counters: Counters, extra: Extra | None = None
) -> pa.Table | None:
    """Sends/opens/clicks/bounces for the retailer's calendar (and campaign sends), plus unsubscribes."""
    n = len(p["number"])
    valid = ~p["email_malformed"]
    rows_pos, rows_type, rows_code, rows_sec = [], [], [], []
    sends = []  # (day, code, kind, send positions)
    for d, code, kind, reach in email_campaigns(start, d0, d1):
        elig = (
            valid
            & (p["signup_day"] <= d)
            & (p["email_optin_day"] <= d)
            & (p["email_optout_day"] > d)
            & (p["end_day"] > d)
        )
        pos = np.flatnonzero(elig & (rng.random(n) < reach))
        sends.append((d, code, kind, pos))
    if extra is not None and len(extra.pos):
        for code in np.unique(extra.code):
            for d in np.unique(extra.day[extra.code == code]):
                pos = extra.pos[(extra.code == code) & (extra.day == d)]
                ok = (
                    valid[pos]
                    & (p["email_optin_day"][pos] <= d)
                    & (p["email_optout_day"][pos] > d)
                    & (p["end_day"][pos] > d)
                )
                sends.append((int(d), str(code), "campaign", pos[ok]))
    for d, code, kind, pos in sends:
        m = len(pos)
        send_sec = day_epoch_seconds(start, np.full(m, d)) + 8 * 3600 + rng.integers(0, 7200, m)
        bounce = p["email_bounces"][pos]
        eng = p["email_engagement"][pos] * np.sqrt(_lapse_factor(p, d)[pos])
        opened = ~bounce & (rng.random(m) < 0.6 * eng)
        if kind == "gift":
            click_p = 0.04 + 0.6 * p["gift_affinity"][pos]
        elif kind == "sale":
            click_p = 0.05 + 0.35 * p["discount_sensitivity"][pos]
        else:
            click_p = 0.06 + 0.15 * p["email_engagement"][pos]
        clicked = opened & (rng.random(m) < click_p)
        open_sec = send_sec + (
            rng.random(m) * (day_epoch_seconds(start, np.full(m, d + 1)) - 700 - send_sec)
        ).astype(np.int64)
        for kind_name, mask, sec in (
            ("send", np.ones(m, bool), send_sec),
            ("bounce", bounce, send_sec + 60),
            ("open", opened, open_sec),
            ("click", clicked, open_sec + rng.integers(5, 600, m)),
        ):
            rows_pos.append(pos[mask])
            rows_type.append(np.full(mask.sum(), kind_name))
            rows_code.append(np.full(mask.sum(), code, dtype=object))
            rows_sec.append(sec[mask])
    # unsubscribes (the e-mail side of an e-mail opt-out), tagged with the latest campaign before it
    unsub = np.flatnonzero(
        valid
        & p["email_optout_via_unsubscribe"]
        & (p["email_optout_day"] >= d0)
        & (p["email_optout_day"] < d1)
        & (p["email_optout_day"] < p["end_day"])
    )
    if len(unsub):
        cal = email_campaigns(start, d0 - 45, d1)
        cal_days = np.array([c[0] for c in cal])
        cal_codes = np.array([c[1] for c in cal], dtype=object)
        k = np.searchsorted(cal_days, p["email_optout_day"][unsub], side="right") - 1
        rows_pos.append(unsub)
        rows_type.append(np.full(len(unsub), "unsubscribe"))
        rows_code.append(np.where(k >= 0, cal_codes[np.maximum(k, 0)], None))
        rows_sec.append(consent_seconds(p, start, "email_optout_day", unsub, 2))
    if not rows_pos:
        return None
    pos = np.concatenate(rows_pos)
    sec = np.concatenate(rows_sec)
    order = np.argsort(sec, kind="stable")
    pos, sec = pos[order], sec[order]
    etype = np.concatenate(rows_type)[order]
    code = np.concatenate(rows_code)[order]
    variant = rng.choice(len(VARIANT_P), size=len(pos), p=VARIANT_P)
    addr = pc.take(email_variants(p["email"]), pa.array(variant * n + pos))
    t = pa.table(
        {
            "event_id": pa.array(counters.take("email_event", len(pos))),
            "email_address": addr,
            "event_type": pa.array(etype),
            "campaign_code": pa.array(code, type=pa.string()),
            "event_at": ts_text(sec),
        }
    )
    dup = np.flatnonzero(rng.random(t.num_rows) < EMAIL_DUPLICATE_SHARE)
    return pa.concat_tables([t, t.take(pa.array(dup))])


# ------------------------------------------------------------------------------------------------ consents
def consent_seconds(p, start: date, col: str, pos: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic time of day for a consent change (the simulator must agree with the generator)."""
    sec_of_day = (p["number"][pos] * 7919 + salt * 104729) % 50000 + 30000
    return day_epoch_seconds(start, p[col][pos]) + sec_of_day


def consent_events(p, start: date, d0: int, d1: int) -> pa.Table:
    """Opt-ins and opt-outs per channel whose day lies in [d0, d1) (d0 may be very negative: the history)."""
    cols: dict[str, list] = {"pos": [], "channel": [], "action": [], "sec": [], "source": []}
    for salt, ch in enumerate(("email", "sms", "push")):
        for action, col in (("opt_in", f"{ch}_optin_day"), ("opt_out", f"{ch}_optout_day")):
            day = p[col]
            pos = np.flatnonzero((day >= d0) & (day < d1) & (day < p["end_day"]))
            if ch == "email":
                pos = pos[~p["email_malformed"][pos]] if action == "opt_out" else pos
            if action == "opt_in":
                at_signup = p[col][pos] == p["signup_day"][pos]
                source = np.where(
                    at_signup,
                    np.where(p["number"][pos] % 10 < 7, "signup_form", "checkout"),
                    "preference_center",
                )
            elif ch == "email":
                source = np.where(
                    p["email_optout_via_unsubscribe"][pos],
                    "email_unsubscribe",
                    np.where(p["number"][pos] % 2 == 0, "preference_center", "customer_service"),
                )
            else:
                source = np.where(p["number"][pos] % 3 == 0, "customer_service", "preference_center")
            cols["pos"].append(pos)
            cols["channel"].append(np.full(len(pos), ch))
            cols["action"].append(np.full(len(pos), action))
            cols["sec"].append(consent_seconds(p, start, col, pos, 2 if action == "opt_out" else salt))
            cols["source"].append(source)
    pos = np.concatenate(cols["pos"])
    sec = np.concatenate(cols["sec"])
    order = np.lexsort((pos, sec))
    return pa.table(
        {
            "customer_id": customer_ids(p["number"][pos[order]]),
            "channel": pa.array(np.concatenate(cols["channel"])[order]),
            "action": pa.array(np.concatenate(cols["action"])[order]),
            "event_at": ts_text(sec[order]),
            "source": pa.array(np.concatenate(cols["source"])[order]),
        }
    )
