"""Declarative campaigns: YAML specs, eligibility and same-day priority, deterministic test/control
assignment, a Great Expectations activation gate, an exactly-once ledger + outbox export, and closing
(uplift and personas via `holdout.measure`). Entry points: `holdout.campaigns.launch` and `.close`."""

from holdout.campaigns.gate import GateFailed
from holdout.campaigns.spec import CampaignSpec, SpecProblem, load_specs, validate_specs

__all__ = ["CampaignSpec", "GateFailed", "SpecProblem", "load_specs", "validate_specs"]
