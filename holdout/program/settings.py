"""Program-wide settings: `holdout/program/program.yml` (or the file `HOLDOUT_PROGRAM_CONFIG` names), read only
through the typed `ProgramSettings` (pydantic v2: unknown keys refused, bounds)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from holdout.yaml_lines import WrittenDate, YamlFileError, field_path, pydantic_message, read_yaml

DEFAULT_PROGRAM_FILE = Path(__file__).with_name("program.yml")
PROGRAM_FILE_ENV = "HOLDOUT_PROGRAM_CONFIG"


class ProgramConfigError(ValueError):
    """The program settings file is unreadable or invalid; the message names the file and field."""


class GlobalControlSettings(BaseModel):
    """The global control group: `share` of all customers, re-drawn every `rotation_months` from `anchor`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: Annotated[float, Field(strict=True, ge=0.0, le=0.5)] = 0.05
    rotation_months: Annotated[int, Field(strict=True, ge=1, le=120)] = 6
    anchor: WrittenDate = date(2026, 1, 1)
    salt: Annotated[str, Field(min_length=1)] = "holdout-global-control-v1"


class ProgramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    global_control: GlobalControlSettings = GlobalControlSettings()


def program_file() -> Path:
    """The program settings file in use."""
    return Path(os.environ.get(PROGRAM_FILE_ENV) or DEFAULT_PROGRAM_FILE)


def load_program_settings(path: Path | None = None) -> ProgramSettings:
    """Read and type-check the program settings; ProgramConfigError names the file and field."""
    path = path or program_file()
    try:
        data = read_yaml(path)[0] or {}
    except YamlFileError as exc:
        raise ProgramConfigError(str(exc)) from None
    try:
        return ProgramSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProgramConfigError(
            f"{path}: {field_path(first['loc'])}: {pydantic_message(first, ProgramSettings)}"
        ) from None
