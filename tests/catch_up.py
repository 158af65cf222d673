"""The catch-up build a test runs between `simulate` and `close`.

`close` measures the order lines of the response window (`int_order_lines_enriched` and its parents: staging
views, resolved customers) against the profile snapshot taken at launch. It also reads `marts.dim_customers`, which
this selection leaves as it was: for erased customers (the erasure check also reads the landing zone's erasure
files, so a new erasure is still seen) and for the profile of a launch without a snapshot (none in these tests).
So a test that only needs the window's orders loaded builds those models, about half a full build at the
fixture's size. The full build's data tests and marts are checked by the tests that are about them.
"""

from __future__ import annotations

from holdout.build import build
from holdout.config import Settings

CLOSE_SELECT = "+int_order_lines_enriched,resource_type:model"


def build_for_close(settings: Settings) -> None:
    build(settings, select=CLOSE_SELECT, progress=False, echo=lambda _m: None)
