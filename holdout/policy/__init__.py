"""The next-best-campaign policy for `priority: auto` campaigns: the rule (`decide`), the launch-day hook
(`launch_day`), the decisions ledger `ops.policy_decisions` (`ledger`) and `holdout policy evaluate`
(`evaluate`, the only part that reads ground truth)."""

from holdout.policy.decide import DEFAULT_EXPLORE_SHARE, Decisions, decide, policy_uniforms

__all__ = ["DEFAULT_EXPLORE_SHARE", "Decisions", "decide", "policy_uniforms"]
