"""Campaign measurement: uplift statistics, honest persona search, power/balance, HTML reports.

Pure functions over pandas/numpy; the campaign package feeds them data frames from the warehouse.
"""

from holdout.measure.experiment import load_hillstrom, measure_experiment, render_experiment_markdown
from holdout.measure.personas import Persona, assign_personas, find_personas, personas_frame
from holdout.measure.power import (
    minimum_detectable_uplift,
    required_sample_size,
    standardized_mean_differences,
)
from holdout.measure.report import render_campaign_report
from holdout.measure.uplift import (
    ConversionResult,
    UpliftResult,
    measure_conversion,
    measure_conversion_counts,
    measure_uplift,
)

__all__ = [
    "ConversionResult",
    "Persona",
    "UpliftResult",
    "assign_personas",
    "find_personas",
    "load_hillstrom",
    "measure_conversion",
    "measure_conversion_counts",
    "measure_experiment",
    "measure_uplift",
    "minimum_detectable_uplift",
    "personas_frame",
    "render_campaign_report",
    "render_experiment_markdown",
    "required_sample_size",
    "standardized_mean_differences",
]
