"""dropbell's configuration: one TOML file plus ``DROPBELL_`` environment variables.

Environment variables win over the file, and ``__`` nests (``DROPBELL_DISCORD__TOKEN``), so an
operator can keep the token out of the file entirely. Every problem is reported as one line by
:func:`load_settings` raising :class:`ConfigError`, which ``dropbell check`` prints.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("config.toml")
DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
SHOP_KINDS = ("shopify", "stripe", "sandbox")


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{value!r} is not a valid {' or '.join(schemes)} URL")
    return value.rstrip("/") if parts.path not in ("", "/") else value


class _Section(BaseModel):
    # Unknown keys are almost always typos ("tokn"); say so instead of ignoring them.
    model_config = ConfigDict(extra="forbid")


class DiscordSettings(_Section):
    token: SecretStr = Field(
        description="The bot token from Discord's developer portal. Secret: never logged."
    )
    api_base: str = Field(
        default=DISCORD_API_BASE,
        description="Base URL of Discord's REST API; point it at any Discord-compatible server.",
    )
    gateway_url: str = Field(
        default=DISCORD_GATEWAY_URL,
        description="URL of Discord's gateway websocket; point it at any compatible server.",
    )
    dev_guild_id: int | None = Field(
        default=None,
        description="If set, commands are synced to this one server at start (instant updates).",
    )

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the token is empty")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_is_http(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))

    @field_validator("gateway_url")
    @classmethod
    def _gateway_is_ws(cls, value: str) -> str:
        return _check_url(value, ("ws", "wss"))

    @property
    def is_discord(self) -> bool:
        """True when pointed at Discord itself rather than a compatible server."""
        return self.api_base == DISCORD_API_BASE and self.gateway_url == DISCORD_GATEWAY_URL


class DatabaseSettings(_Section):
    url: str = Field(
        default="sqlite+aiosqlite:///dropbell.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///file.db, or postgresql+asyncpg://... .",
    )

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                f"{value!r} is not supported; use sqlite+aiosqlite:///path.db "
                "or postgresql+asyncpg://user:pass@host/db"
            )
        return value


class WebSettings(_Section):
    host: str = Field(default="127.0.0.1", description="Address of the bot's HTTP listener.")
    port: int = Field(
        default=8080, ge=0, le=65535, description="Port of the HTTP listener (webhooks, health)."
    )


class SchedulerSettings(_Section):
    grace_hours: float = Field(
        default=6.0,
        gt=0,
        description="Posts that fell due while the bot was down are still sent if this recent.",
    )
    countdown_offsets_minutes: list[float] = Field(
        default=[24 * 60, 60, 10],
        description="Countdown posts go out this many minutes before a drop opens.",
    )
    reminder_offsets_minutes: list[float] = Field(
        default=[60, 0],
        description="Reminder DMs go to opted-in fans this many minutes before opening (0: at it).",
    )
    dm_per_second: float = Field(
        default=47.5,
        gt=0,
        le=50,
        description="Reminder DMs per second at most (Discord allows a bot about 50 requests/s).",
    )
    dm_opens_per_second: float = Field(
        default=0.8,
        gt=0,
        le=10,
        description=(
            "New DM channels opened per second at most (opening them fast gets 40003; a known "
            "channel is reused, so this paces only each fan's first reminder)."
        ),
    )


class ShopifyShop(_Section):
    kind: Literal["shopify"]
    shop_domain: str = Field(description="The shop's myshopify.com domain.")
    admin_token: SecretStr = Field(description="Admin API access token (secret).")
    webhook_secret: SecretStr = Field(description="The app secret used to sign webhooks.")


class StripeShop(_Section):
    kind: Literal["stripe"]
    secret_key: SecretStr = Field(description="Stripe secret API key (secret).")
    webhook_secret: SecretStr = Field(description="The endpoint's signing secret (whsec_...).")
    success_url: str = Field(
        default="https://example.com/thanks", description="Where Checkout sends a buyer after."
    )


class SandboxShop(_Section):
    kind: Literal["sandbox"]
    base_url: str = Field(
        default="http://127.0.0.1:0", description="URL of the bundled sandbox shop."
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("sandbox-secret"), description="Secret the sandbox shop signs with."
    )


ShopSettings = Annotated[ShopifyShop | StripeShop | SandboxShop, Field(discriminator="kind")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DROPBELL_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    discord: DiscordSettings = Field(description="How to reach Discord and log in.")
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="Where dropbell keeps its state."
    )
    web: WebSettings = Field(default_factory=WebSettings, description="The bot's HTTP listener.")
    scheduler: SchedulerSettings = Field(
        default_factory=SchedulerSettings, description="Scheduled posts and countdowns."
    )
    shops: dict[str, ShopSettings] = Field(
        default_factory=dict, description="Connected shops by name, each with its kind."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return (env_settings, init_settings)

    @property
    def database_kind(self) -> str:
        return "PostgreSQL" if self.database.url.startswith("postgresql") else "SQLite"


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` holds one human line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


_HINTS = {
    "discord.token": "set token under [discord] in the config file or DROPBELL_DISCORD__TOKEN",
}


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "missing":
        hint = _HINTS.get(where, "add it to the config file")
        return f"{where} is missing: {hint}."
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "?")
        return f"{where}: kind {tag!r} is not a shop kind; use one of {', '.join(SHOP_KINDS)}."
    if kind == "union_tag_not_found":
        return f"{where}: kind is missing; use one of {', '.join(SHOP_KINDS)}."
    if kind == "extra_forbidden":
        return f"{where} is not a known setting; check its spelling against config.example.toml."
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}."


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"Cannot read the config file {path}: {exc.strerror or exc}."]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"The config file {path} is not valid TOML: {exc}."]) from exc


def load_settings(path: Path | None = None) -> Settings:
    """Load settings from ``path`` (or ./config.toml if present) and the environment.

    An explicit path that cannot be read is an error; the default path is optional, so a
    configuration given wholly through the environment works too.
    """
    if path is not None:
        data = read_toml(path)
    elif DEFAULT_CONFIG_PATH.exists():
        data = read_toml(DEFAULT_CONFIG_PATH)
    else:
        data = {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None
