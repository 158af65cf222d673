"""The generated retailer: a landing zone with latent ground truth (`generate_landing_zone`) and a world that
moves on day by day, answering campaigns (`simulate`)."""

from holdout.generate.simulate import simulate
from holdout.generate.world import generate_landing_zone

__all__ = ["generate_landing_zone", "simulate"]
