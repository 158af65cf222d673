"""True campaign effects: how a treated customer's purchase rate and basket change during the response window."""

from __future__ import annotations

import numpy as np

from holdout.generate.population import TYPES, T

# relative change of the purchase rate while in the window, by offer kind and latent type
RATE_EFFECT: dict[str, dict[str, float]] = {
    "discount": {
        "bargain_hunter": 0.9,
        "loyal_high_spender": 0.03,
        "gift_buyer": 0.15,
        "lapsing": 0.3,
        "new_explorer": 0.2,
        "occasional": 0.15,
        "dormant": 0.05,
    },
    "gift": {
        "bargain_hunter": 0.1,
        "loyal_high_spender": 0.02,
        "gift_buyer": 1.0,
        "lapsing": 0.1,
        "new_explorer": 0.1,
        "occasional": 0.1,
        "dormant": 0.02,
    },
    "winback": {
        "bargain_hunter": 0.2,
        "loyal_high_spender": 0.0,
        "gift_buyer": 0.1,
        "lapsing": 0.8,
        "new_explorer": 0.1,
        "occasional": 0.15,
        "dormant": 0.1,
    },
    "new_collection": {
        "bargain_hunter": 0.05,
        "loyal_high_spender": 0.05,
        "gift_buyer": 0.1,
        "lapsing": 0.1,
        "new_explorer": 0.7,
        "occasional": 0.1,
        "dormant": 0.02,
    },
    "content": {t: 0.05 for t in TYPES} | {"loyal_high_spender": 0.02},
}
# relative change of basket_p (more lines per order)
BASKET_EFFECT: dict[str, dict[str, float]] = {
    "discount": {"bargain_hunter": 0.2},
    "new_collection": {"new_explorer": 0.15, "loyal_high_spender": 0.05},
    "gift": {"gift_buyer": 0.15},
}
HARMED_ENGAGEMENT = 0.25  # occasional customers below this e-mail engagement are put off by any contact
HARM = -0.2


def effect_multipliers(
    latent_type: np.ndarray, engagement: np.ndarray, channel: str, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """(rate multiplier, basket multiplier) per customer for one campaign; heterogeneous within type by engagement."""
    table = RATE_EFFECT.get(kind, RATE_EFFECT["content"])
    base = np.array([table.get(t, 0.0) for t in TYPES])[latent_type]
    scale = (0.4 + 1.2 * engagement) if channel == "email" else (0.6 + 0.8 * engagement)
    rate = base * scale
    harmed = (latent_type == T["occasional"]) & (engagement < HARMED_ENGAGEMENT)
    rate = np.where(harmed, HARM, rate)
    basket = np.array([BASKET_EFFECT.get(kind, {}).get(t, 0.0) for t in TYPES])[latent_type]
    return 1.0 + rate, 1.0 + basket
