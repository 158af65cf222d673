"""The catch-up build a test runs between `simulate` and `close`.

`close` reads the order lines of the response window (`int_order_lines_enriched` and its parents: staging views,
resolved customers) and the profile snapshot taken at launch, nothing else the build makes. So a test that only
needs the window's orders loaded builds those models, about half a full build at the fixture's size. The full
build's data tests and marts are checked by the tests that are about them.
"""

from __future__ import annotations

from holdout.build import build
from holdout.config import Settings

CLOSE_SELECT = "+int_order_lines_enriched,resource_type:model"


def build_for_close(settings: Settings) -> None:
    build(settings, select=CLOSE_SELECT, progress=False, echo=lambda _m: None)
