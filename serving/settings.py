"""Every setting of the HTTP service, in one typed object read from `CHURNREC_*` variables.

`churnrec serve` checks them first and hands them to `bentoml serve` as the same variables
(`as_env`); nothing else in the service reads the environment.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CHURNREC_"
MIN_KEY_CHARS = 8
RECOMMENDED_KEY_CHARS = 16
_NEW_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(24))'"


class SettingsError(ValueError):
    """A setting is missing or not valid; the message names its environment variable."""


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def env_name(field: str) -> str:
    """The environment variable a field is read from: `workers` -> `CHURNREC_WORKERS`."""
    return ENV_PREFIX + field.upper()


class ServiceSettings(BaseSettings):
    """How one churnrec service runs. An empty variable counts as unset (the default)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True)

    workspace: Path = Field(Path("."), description="workspace folder with mlruns/ and data/")
    api_key: SecretStr | None = Field(None, description="the key clients send as Bearer token")
    api_key_file: Path | None = Field(
        None, description="... or a file holding it; a key under 8 characters: refused, 16: warned"
    )
    auth_disabled: bool = Field(False, description="1: no key check, local development only")
    auth_failures_per_minute: NonNegativeInt = Field(
        20,
        description="failed authentications per client address and minute before 429 for a "
        "minute (0 = no limit; each worker counts its own)",
    )
    reload_seconds: NonNegativeFloat = Field(
        10.0, description="how often to look for a new champion or changed inputs (0 = off)"
    )
    as_of: dt.date | None = Field(None, description="snapshot to serve (default: the newest)")
    serving_config: Path | None = Field(None, description="serving config YAML (tiers, consent)")
    consent_default: Annotated[Literal["allow", "deny"] | None, BeforeValidator(_lower)] = Field(
        None, description="what unknown marketing consent means; overrides the serving config's"
    )
    max_body_bytes: PositiveInt = Field(
        1024 * 1024, description="largest request body (413 beyond), counted as received"
    )
    events_sync: Annotated[Literal["always", "interval"], BeforeValidator(_lower)] = Field(
        "always", description="`POST /events` answers after fsync, or after the write (interval)"
    )
    events_sync_ms: float = Field(200.0, ge=1, le=60_000, description="`interval`: flushed within")
    workers: PositiveInt = Field(1, description="worker processes, each with its own models")
    access_log: bool = Field(False, description="1: per-request log to stdout (1/3 of a tiny call)")
    benchmark_routes: bool = Field(False, description="1: `/noop`, `/benchmark_stats` (benchmarks)")
    benchmark_bentoml_timeout: bool = Field(
        False, description="1: BentoML's own request timeout (the benchmark's 'before')"
    )

    @classmethod
    def load(cls, **given: Any) -> ServiceSettings:
        """The environment, overridden by `given` (a command's flags); clear errors."""
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    def bearer_key(self) -> str | None:
        """The key clients must send (`None`: auth disabled); read on demand, not at construction,
        because `bentoml build` imports the service without a key."""
        if self.auth_disabled:
            return None
        key = self.api_key.get_secret_value().strip() if self.api_key else ""
        where = env_name("api_key_file")
        if not key and self.api_key_file is not None:
            path = self.api_key_file
            try:
                lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
            except OSError as exc:
                raise SettingsError(f"{where}={path} cannot be read: {exc}") from exc
            if not lines:
                raise SettingsError(f"{where}={path} is empty")
            key = lines[0]
        if not key:
            raise SettingsError(
                f"no API key: set {env_name('api_key')} or {where}, "
                f"or {env_name('auth_disabled')}=1 for local development only"
            )
        if len(key) < MIN_KEY_CHARS:
            raise SettingsError(
                f"the API key ({env_name('api_key')} / {where}) has {len(key)} characters; at "
                f"least {MIN_KEY_CHARS} are needed ({RECOMMENDED_KEY_CHARS}+ recommended, e.g. "
                f"{_NEW_KEY})"
            )
        return key

    def warnings(self) -> list[str]:
        """Lines to print at start about a weak key (its length only, never the key)."""
        key = self.bearer_key()
        if key is None or len(key) >= RECOMMENDED_KEY_CHARS:
            return []
        line = (
            f"the API key has only {len(key)} characters: use at least "
            f"{RECOMMENDED_KEY_CHARS} random ones ({_NEW_KEY})"
        )
        return [line]

    def as_env(self) -> dict[str, str]:
        """Every setting as the variable it is read from, so a new process reads the same."""
        values = self.model_dump(mode="json", exclude={"api_key"})  # json: the key is masked
        values["api_key"] = self.api_key.get_secret_value() if self.api_key else None
        return {env_name(name): "" if v is None else str(v) for name, v in values.items()}


def _explain(exc: ValidationError) -> str:
    """One line per bad setting, named by its variable; a key's value is never repeated."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        shown = "" if field == "api_key" else f" (got {error.get('input')!r})"
        lines.append(f"{env_name(field)}: {error['msg']}{shown}")
    return "invalid service settings:\n  " + "\n  ".join(lines)
