"""Holdout: retention marketing on the modern data stack."""

from holdout.config import Settings, get_settings

__all__ = ["Settings", "get_settings"]
__version__ = "0.1.0"
