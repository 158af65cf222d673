"""Channel configuration (`channels.yml` beside this module): consent channel, contact, plain or hashed export."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CHANNELS_FILE = Path(__file__).with_name("channels.yml")
CONTACTS = ("email", "phone", "app", "address")


@dataclass(frozen=True)
class Channel:
    name: str
    consent: str | None
    contact: str
    plain: bool = False
    suppress_bounced: bool = False


@lru_cache(maxsize=4)
def load_channels(path: Path = CHANNELS_FILE) -> dict[str, Channel]:
    """Channels by name; raises ValueError on a malformed config (it ships with the code)."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    channels = {}
    for name, cfg in raw.items():
        if cfg.get("contact") not in CONTACTS:
            raise ValueError(f"{path.name}: {name}.contact must be one of {CONTACTS}")
        channels[name] = Channel(
            name=name,
            consent=cfg.get("consent"),
            contact=cfg["contact"],
            plain=bool(cfg.get("plain", False)),
            suppress_bounced=bool(cfg.get("suppress_bounced", False)),
        )
    return channels


def get_channel(name: str) -> Channel:
    return load_channels()[name]
