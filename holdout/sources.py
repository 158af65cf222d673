"""Which source systems feed the profile: the home's sources file and the landing zone's absent entities.

The one owner of `HOLDOUT_HOME/sources.yml` (optional; without it the generated retailer feeds every contract)
and of the fact which landing-zone entities are optional. The Airflow landing-zone check, `holdout build` and dbt
(through the vars of `dbt_vars`) all take both from here. README "Bring your own data" documents the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from holdout.config import Settings
from holdout.yaml_lines import YamlFileError, field_path, pydantic_message, read_yaml

# The generated retailer's staging model of each staging contract. A sources file may give a contract to another
# provider: its staging models live in dbt_project/models/staging/<provider>/ and enable themselves with
# `provides_contract('<contract>', '<provider>')`, the generated model then disables itself.
CONTRACTS = (
    "stg_crm__customers",
    "stg_crm__erasure_requests",
    "stg_ecommerce__orders",
    "stg_ecommerce__order_lines",
    "stg_ecommerce__products",
    "stg_web__events",
    "stg_email__events",
    "stg_consents__consent_events",
    "stg_loyalty__members",
    "stg_support__tickets",
)
GENERATED = "generated"

# Every `<system>/<entity>` folder of the generated retailer's landing zone and the file format of its part files
# (the generator writes them, the build checks and loads them; the dbt sources declare the same list,
# tests/test_landing.py asserts it). Here, not in the generator: a build must not import pandas and pyarrow for it.
LANDING_FORMATS = {
    "crm/customers": "csv",
    "crm/erasure_requests": "csv",
    "ecommerce/products": "parquet",
    "ecommerce/orders": "parquet",
    "ecommerce/order_lines": "parquet",
    "ecommerce/fx_rates": "csv",
    "web/events": "parquet",
    "email/events": "csv",
    "consents/events": "csv",
    "loyalty/members": "csv",
    "support/tickets": "csv",
}

# Landing-zone entities of the generated retailer's format that feed a required contract; every other entity is
# optional and builds as empty when its folder is absent or holds no part files. fx_rates is required unless the
# sources file names the one currency of every amount.
REQUIRED_ENTITIES = {
    "crm/customers": "stg_crm__customers",
    "ecommerce/orders": "stg_ecommerce__orders",
    "ecommerce/order_lines": "stg_ecommerce__order_lines",
    "ecommerce/fx_rates": "stg_ecommerce__orders",
}
# Optional landing-zone entities of the generated retailer's format and the contract each feeds
OPTIONAL_ENTITY_CONTRACTS = {
    "crm/erasure_requests": "stg_crm__erasure_requests",
    "ecommerce/products": "stg_ecommerce__products",
    "web/events": "stg_web__events",
    "email/events": "stg_email__events",
    "consents/events": "stg_consents__consent_events",
    "loyalty/members": "stg_loyalty__members",
    "support/tickets": "stg_support__tickets",
}
OPTIONAL_ENTITIES = frozenset(OPTIONAL_ENTITY_CONTRACTS)
CURRENCY_PATTERN = r"^[A-Z]{3}$"


class SourcesError(ValueError):
    """The sources file is invalid, or a required source has no part files: the message names file and field."""


def _re2_problem(pattern: str) -> str | None:
    """What DuckDB's RE2 says of `pattern`, or None when it compiles."""
    import duckdb

    with duckdb.connect() as con:
        try:
            con.execute(
                "select regexp_full_match('', ?)", [pattern]
            ).fetchall()  # bound: no text of the file in SQL
        except duckdb.Error as error:
            return str(error).splitlines()[0]
    return None


class SourcesConfig(BaseModel):
    """`HOLDOUT_HOME/sources.yml`: which staging models provide the contracts, and the data's own rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # left out = the dbt var's default in dbt_project.yml (the generated retailer's rule), the one place it is set
    contracts: dict[str, str] = Field(default_factory=dict)
    customer_id_pattern: str | None = None
    departments: list[str] | None = None
    currency: str | None = None
    max_quarantined_share: float = Field(default=0.5, gt=0, le=1)

    @field_validator("contracts")
    @classmethod
    def _known_contracts(cls, value: dict[str, str]) -> dict[str, str]:
        for contract, provider in value.items():
            if contract not in CONTRACTS:
                raise ValueError(f"unknown contract {contract!r}; known: {', '.join(CONTRACTS)}")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", provider):
                raise ValueError(f"provider {provider!r} of {contract} is not a folder name (a-z, 0-9, _)")
        return value

    @field_validator("customer_id_pattern")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        try:
            re.compile(value or "")
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        problem = _re2_problem(value) if value else None
        if (
            problem is not None
        ):  # the warehouse matches with RE2, which lacks some of Python's syntax (look-arounds)
            raise ValueError(f"not a regular expression the warehouse (RE2) accepts: {problem}")
        return value

    @field_validator("departments")
    @classmethod
    def _departments(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            cleaned = [d.strip().lower() for d in value]
            if not cleaned or any(not d for d in cleaned):
                raise ValueError(
                    "list at least one non-empty department, or leave it out (those the products have)"
                )
            return cleaned
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(CURRENCY_PATTERN, value.strip().upper()):
            raise ValueError(f"{value!r} is not a three-letter currency code")
        return value.strip().upper() if value is not None else None

    def provider(self, contract: str) -> str:
        """The provider of a contract's staging model (`generated` unless the file names another)."""
        return self.contracts.get(contract, GENERATED)


def _provides(settings: Settings, contract: str, provider: str) -> bool:
    """Whether a model named `contract` enables itself for `provider` (the macro call README asks for)."""
    call = re.compile(rf"provides_contract\(\s*['\"]{contract}['\"]\s*,\s*['\"]{provider}['\"]\s*\)")
    models = settings.dbt_project_dir / "models"
    return any(call.search(path.read_text(errors="replace")) for path in models.rglob(f"{contract}.sql"))


def sources_file(settings: Settings) -> Path:
    return settings.home / "sources.yml"


def load_sources(settings: Settings) -> SourcesConfig:
    """The home's sources file, or the defaults (the generated retailer) without one; SourcesError names the field."""
    path = sources_file(settings)
    if not path.exists():
        return SourcesConfig()
    try:
        body = read_yaml(path)[0] or {}
    except YamlFileError as error:
        raise SourcesError(str(error)) from None
    if not isinstance(body, dict):
        raise SourcesError(f"{path}: expected a mapping of settings")
    try:
        config = SourcesConfig.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{field_path(e['loc'])}: "
            + (
                pydantic_message(e, SourcesConfig)
                if e["type"] == "extra_forbidden"
                else e["msg"].removeprefix("Value error, ")
            )
            for e in error.errors()
        )
        raise SourcesError(f"{path}: {problems}") from None
    for contract, provider in config.contracts.items():  # else dbt fails the build with its own words, later
        if provider != GENERATED and not _provides(settings, contract, provider):
            raise SourcesError(
                f"{path}: contracts.{contract}: no staging model provides {contract} for {provider!r}: write "
                f"dbt_project/models/staging/{provider}/{contract}.sql starting with "
                f"{{{{ config(enabled=provides_contract('{contract}', '{provider}')) }}}} (README: Bring your own data)"
            )
    _check_quarantined(settings, {p for p in config.contracts.values() if p != GENERATED}, path)
    return config


def _closing(text: str, start: int, opening: str, closing: str) -> int:
    """Index of the bracket closing the one at `start`, skipping quoted strings (a key expression may hold
    brackets); -1 when it is not closed."""
    depth, quote = 0, None
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i
    return -1


_PROVIDER_ENTRY = re.compile(r"""(['"])([^'"]+)\1\s*:\s*\[""")  # `'provider': [` in `providers`


def _quarantine_lists(macros: str) -> dict[str, str] | None:
    """Each provider's entry of `providers` in `base_models` (macros/sources.sql), as text without Jinja comments:
    provider -> the text of its list of (model, source, entity, key) tuples; None when the dict cannot be read."""
    text = re.sub(r"\{#.*?#\}", "", macros, flags=re.S)
    found = re.search(r"set\s+providers\s*=\s*\{", text)
    end = _closing(text, found.end() - 1, "{", "}") if found else -1
    if end < 0:
        return None
    block, lists, at = text[found.end() : end], {}, 0
    while entry := _PROVIDER_ENTRY.search(block, at):
        close = _closing(block, entry.end() - 1, "[", "]")
        if close < 0:
            return None
        lists[entry.group(2)] = block[entry.end() : close]
        at = close + 1
    return lists


def _check_quarantined(settings: Settings, providers: set[str], path: Path) -> None:
    """Each base model of a provider the file uses is in that provider's entry of the quarantine's list
    (`providers` in `base_models`, macros/sources.sql): else its rejected rows would leave staging uncounted and
    unchecked against `max_quarantined_share`, silently. The list is dbt's (the quarantine must `ref` each model by
    name); a name in a comment or under another provider does not count, as dbt would not count it."""
    if not providers:  # the generated retailer's models only: nothing to look up
        return
    macros = settings.dbt_project_dir / "macros" / "sources.sql"
    lists = _quarantine_lists(macros.read_text())
    if lists is None:
        raise SourcesError(
            f"{path}: cannot read the quarantine's list (`providers` in base_models, {macros}) to check your "
            "provider's base models: keep it a literal dict of lists, as the file ships it"
        )
    for provider in sorted(providers):
        listed = lists.get(provider, "")
        for model in sorted((settings.dbt_project_dir / "models" / "staging" / provider).glob("base_*.sql")):
            if not re.search(rf"""\(\s*(['"]){re.escape(model.stem)}\1""", listed):
                raise SourcesError(
                    f"{path}: {provider!r}: {model.relative_to(settings.dbt_project_dir)} is not in the "
                    f"quarantine's list, so its rejected rows would vanish uncounted: add ('{model.stem}', "
                    f"'<source>', '<entity>', '<key column>') to the {provider!r} entry of `providers` in "
                    "base_models, dbt_project/macros/sources.sql (README: Bring your own data, step 2)"
                )


def part_files(folder: Path) -> list[Path]:
    """A landing-zone entity folder's part files (`*.csv`, `*.parquet`; none when the folder is absent). Hidden files
    are left out: the generator writes each part through a hidden temporary file."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix in {".parquet", ".csv"} and p.is_file() and not p.name.startswith(".")
    )


def loaded_part_files(con: Any) -> dict[tuple[str, str], tuple[int, float]] | None:
    """What the incremental base models recorded as loaded (`staging.loaded_part_files`): (entity, file name) ->
    (size, modification time as epoch seconds); None when the warehouse holds no such record."""
    import duckdb

    try:
        rows = con.execute(
            "select entity, file_name, size, epoch(last_modified) from staging.loaded_part_files"
        ).fetchall()
    except duckdb.Error:
        return None
    return {(entity, name): (size, when) for entity, name, size, when in rows}


def loaded_as_it_is(path: Path, entity: str, loaded: dict[tuple[str, str], tuple[int, float]] | None) -> bool:
    """Whether a build loaded this part file as it is now (same size and modification time to the second)."""
    size, when = (loaded or {}).get((entity, path.name), (None, None))
    stat = path.stat()
    return size == stat.st_size and when is not None and abs(when - stat.st_mtime) < 1.0


def landing_entities() -> list[str]:
    """Every `<system>/<entity>` folder of the generated retailer's landing zone."""
    return list(LANDING_FORMATS)


def absent_entities(settings: Settings) -> list[str]:
    """Landing-zone entities with no part file (folder absent or empty): dbt builds them as empty."""
    return [entity for entity in landing_entities() if not part_files(settings.raw_dir / entity)]


def missing_required(config: SourcesConfig, absent: list[str]) -> list[str]:
    """Absent entities that feed a contract the generated retailer provides and that is required."""
    missing = []
    for entity in absent:
        contract = REQUIRED_ENTITIES.get(entity)
        if contract is None or config.provider(contract) != GENERATED:
            continue
        if entity == "ecommerce/fx_rates" and config.currency is not None:
            continue  # every amount in one currency: no rates needed
        missing.append(entity)
    return missing


def unfed_contracts(config: SourcesConfig, absent: list[str]) -> list[str]:
    """Absent entities whose contract is not provided by another model: what the build summary names as built
    empty (an entity of the generated format is not missed when the home's own staging model provides its
    contract)."""
    feeds = {**OPTIONAL_ENTITY_CONTRACTS, **REQUIRED_ENTITIES}
    return [entity for entity in absent if entity not in feeds or config.provider(feeds[entity]) == GENERATED]


def source_vars(settings: Settings) -> dict[str, Any]:
    """The dbt vars of the home's sources; raise SourcesError when a required source has no part files."""
    config = load_sources(settings)
    absent = absent_entities(settings)
    missing = missing_required(config, absent)
    if missing:
        raise SourcesError(
            f"Landing zone {settings.raw_dir} has no part files for the required source(s): {', '.join(missing)}. "
            f"Land them there, or give their contracts to your own staging models in {sources_file(settings)} "
            "(README: Bring your own data)."
        )
    variables: dict[str, Any] = {
        "contracts": dict(config.contracts),
        "absent_sources": absent,
        "landing_entities": landing_entities(),
    }
    variables.update(
        config.model_dump(include={"customer_id_pattern", "departments", "currency"}, exclude_none=True)
    )
    return variables
