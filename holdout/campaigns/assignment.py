"""Priority between campaigns launching the same day, and deterministic random test/control assignment."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from holdout.campaigns.spec import CampaignSpec

# Salt of the assignment hash. Changing it re-randomizes every campaign: never change it casually.
ASSIGNMENT_SEED = "holdout-v1"


def assignment_uniform(
    campaign_id: str, customer_ids: pd.Series | list[str], seed: str = ASSIGNMENT_SEED
) -> np.ndarray:
    """Uniform in [0, 1) from SHA-256(seed, campaign_id, customer_id).

    Deterministic (a relaunch or a replan gives every customer the same draw) and independent across
    campaigns. A recurring campaign keeps each customer in the same group at every launch: a persistent
    holdout, so the control group measures the cumulative effect of the programme. A split's follow-up has its
    own id, hence a fresh draw: its re-test is an independent replication (module holdout.campaigns.split).
    """
    out = np.empty(len(customer_ids), dtype=float)
    prefix = f"{seed}\x1f{campaign_id}\x1f".encode()
    for i, cid in enumerate(customer_ids):
        digest = hashlib.sha256(prefix + str(cid).encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2.0**64
    return out


def assign_groups(
    campaign_id: str,
    customer_ids: pd.Series,
    control_share: float,
    variants: Sequence[tuple[str, float]] = (),
) -> pd.DataFrame:
    """customer_id, u (the uniform draw), group (control when u < control_share, else test) and variant: with
    variants [(id, share), ...], test customers take the variant whose slice of [control_share, 1) holds u (the
    same draw, so a re-run or a recurring launch gives each customer the same variant); else null."""
    # keep the ids' own dtype: rebuilt from an empty list they would become float64 and break the merge
    # with the audience frame when nobody is eligible
    if isinstance(customer_ids, pd.Series):
        ids = customer_ids.reset_index(drop=True)
    else:
        ids = pd.Series(list(customer_ids), dtype="str")
    u = assignment_uniform(campaign_id, list(ids))
    group = pd.Series(np.where(u < control_share, "control", "test"), dtype="str")
    variant = pd.Series([None] * len(ids), dtype="object")
    if variants:
        edges = control_share + np.cumsum([share for _, share in variants])
        # the last slice ends at 1 whatever rounding the shares carry
        pick = np.minimum(np.searchsorted(edges, u, side="right"), len(variants) - 1)
        names = np.array([vid for vid, _ in variants], dtype=object)
        variant = pd.Series(np.where(u < control_share, None, names[pick]), dtype="object")
    return pd.DataFrame({"customer_id": ids, "u": u, "group": group, "variant": variant})


def priority_order(specs: list[CampaignSpec], eligible_sizes: dict[str, int]) -> list[CampaignSpec]:
    """The order in which same-day campaigns pick customers; each customer goes to at most one campaign.

    Lower integer priority = higher priority (0 first). `priority: auto` ranks after every explicit priority,
    and among autos the campaign with the smaller eligible audience picks first: a niche campaign loses most
    when a broad one takes its few customers, a broad one barely notices. Ties break on campaign id.
    """

    def key(spec: CampaignSpec) -> tuple:
        if spec.priority is not None:
            return (0, spec.priority, 0, spec.id)
        return (1, 0, eligible_sizes.get(spec.id, 0), spec.id)

    return sorted(specs, key=key)
