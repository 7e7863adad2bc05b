"""dropbell's configuration: one TOML file plus ``DROPBELL_`` environment variables.

Environment variables win over the file, and ``__`` nests (``DROPBELL_DISCORD__TOKEN``), so an
operator can keep the token out of the file entirely. Every problem is reported as one line by
:func:`bot.config_loading.load_settings` raising ``ConfigError``, which ``dropbell check``
prints. This module says what the settings are; ``bot.config_loading`` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("config.toml")
DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
SHOP_KINDS = ("shopify", "stripe", "sandbox")
ENV_PREFIX = "DROPBELL_"
MINUTES_PER_YEAR = 366 * 24 * 60


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{value!r} is not a valid {' or '.join(schemes)} URL")
    return value.rstrip("/") if parts.path not in ("", "/") else value


def _check_offsets(value: list[float], *, allow_zero: bool) -> list[float]:
    for minutes in value:
        if minutes < 0 or (minutes == 0 and not allow_zero):
            floor = "0 or more" if allow_zero else "more than 0"
            raise ValueError(f"{minutes:g} is not a time before opening; use minutes {floor}")
        if minutes > MINUTES_PER_YEAR:
            raise ValueError(f"{minutes:g} minutes is more than a year before opening")
    return value


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
    shard_count: int | None = Field(
        default=None,
        ge=1,
        description="How many shards the bot's servers are split into across all its processes "
        "(Discord sends server S to shard (S >> 22) % shard_count). Unset: one, unsharded.",
    )
    shard_ids: list[int] | None = Field(
        default=None,
        description="The shards this process runs, each within 0..shard_count-1 (several "
        "processes on one PostgreSQL database split them). Unset: all of them.",
    )

    @model_validator(mode="after")
    def _shards_fit(self) -> DiscordSettings:
        ids = self.shard_ids
        if ids is None:
            return self
        if self.shard_count is None:
            raise ValueError("shard_ids needs shard_count: set how many shards there are in all")
        wrong = [i for i in ids if not 0 <= i < self.shard_count]
        if wrong or not ids or len(set(ids)) != len(ids):
            raise ValueError(
                f"shard_ids must be distinct numbers from 0 to {self.shard_count - 1} "
                f"(shard_count is {self.shard_count}); got {ids}"
            )
        return self

    @property
    def shards(self) -> list[int] | None:
        """The shard ids this process runs, or None when the bot is not sharded."""
        if self.shard_count is None:
            return None
        return self.shard_ids if self.shard_ids is not None else list(range(self.shard_count))

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
            # The scheme only: the rest of a URL may hold a password.
            scheme, separator, _ = value.partition("://")
            what = f"{scheme}://" if separator else "a URL without a scheme"
            raise ValueError(
                f"{what} is not supported; use sqlite+aiosqlite:///path.db "
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

    @field_validator("countdown_offsets_minutes")
    @classmethod
    def _countdowns_before_opening(cls, value: list[float]) -> list[float]:
        return _check_offsets(value, allow_zero=False)

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _reminders_before_opening(cls, value: list[float]) -> list[float]:
        # 0 is "at opening"; a countdown post at opening would duplicate the opening post.
        return _check_offsets(value, allow_zero=True)

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
    api_version: str = Field(default="2025-10", description="Admin API version, e.g. 2025-10.")
    api_base: str | None = Field(
        default=None,
        description="Admin API base URL (default: https://<shop_domain>); point it elsewhere "
        "for a compatible server such as the sandbox shop.",
    )


class StripeShop(_Section):
    kind: Literal["stripe"]
    secret_key: SecretStr = Field(description="Stripe secret API key (secret).")
    webhook_secret: SecretStr = Field(description="The endpoint's signing secret (whsec_...).")
    # Required, no default: a placeholder here would send every paying fan to someone else's
    # page (product.md lists both as a Stripe shop's keys).
    success_url: str = Field(description="Where Checkout sends a buyer who paid (https://...).")
    cancel_url: str = Field(description="Where Checkout sends a buyer who backs out (https://...).")
    api_base: str | None = Field(
        default=None,
        description="Stripe API base URL (default: Stripe's); point it elsewhere for a "
        "compatible server such as the sandbox shop.",
    )

    @field_validator("success_url", "cancel_url")
    @classmethod
    def _checkout_url(cls, value: str) -> str:
        return _check_url(value, ("https", "http"))


class SandboxShop(_Section):
    kind: Literal["sandbox"]
    api_base: str = Field(
        default="http://127.0.0.1:8766", description="URL of the bundled sandbox shop."
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("sandbox-secret"), description="Secret the sandbox shop signs with."
    )


class DropsSettings(_Section):
    hold_minutes: float = Field(
        default=15,
        gt=0,
        le=24 * 60,
        description="How long a claimed purchase link holds its unit before it returns to stock.",
    )


class PollsSettings(_Section):
    currency: str = Field(
        default="EUR",
        min_length=1,
        max_length=8,
        description="The currency poll option prices are given in (shown after each price).",
    )


ShopSettings = Annotated[ShopifyShop | StripeShop | SandboxShop, Field(discriminator="kind")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
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
    drops: DropsSettings = Field(
        default_factory=DropsSettings, description="Drop day: claims and holds."
    )
    polls: PollsSettings = Field(
        default_factory=PollsSettings, description="Pre-order validation polls."
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
