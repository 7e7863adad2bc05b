"""Reading dropbell's settings (:mod:`bot.config`): the TOML file, then ``DROPBELL_``
environment variables over it, and every problem as one line (:class:`ConfigError`)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import DEFAULT_CONFIG_PATH, ENV_PREFIX, SHOP_KINDS, Settings


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` holds one human line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def env_name(path: tuple[str, ...]) -> str:
    """The environment variable that sets ``path``: DROPBELL_ + the parts in capitals, __."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def _env() -> dict[str, str]:
    # pydantic-settings matches names case-insensitively; compare in capitals too.
    return {key.upper(): value for key, value in os.environ.items()}


def _path_of(error: Any) -> tuple[str, ...]:
    parts = tuple(str(part) for part in error["loc"])
    # A shop's errors carry the union's tag as a path part (shops.main.stripe.secret_key);
    # the operator never wrote it, so leave it out.
    if len(parts) > 2 and parts[0] == "shops" and parts[2] in SHOP_KINDS:
        parts = parts[:2] + parts[3:]
    return parts


class _Sources:
    """Which setting came from where, so every message names what the operator really wrote."""

    def __init__(self, config_file: Path | None, looked_for: Path) -> None:
        self.config_file = config_file
        self.looked_for = looked_for
        self.env = _env()

    def from_env(self, path: tuple[str, ...]) -> str | None:
        """The variable that set ``path`` (or a setting inside it), if one did."""
        name = env_name(path)
        if name in self.env:
            return name
        inside = sorted(key for key in self.env if key.startswith(name + "__"))
        return inside[0] if inside else None

    def describe(self, error: Any) -> str:
        path = _path_of(error)
        where = ".".join(path)
        kind = error["type"]
        variable = self.from_env(path)
        if kind == "missing":
            if path in (("discord",), ("discord", "token")) and self.config_file is None:
                return (
                    f"no config file (looked for {self.looked_for}); "
                    f"set {env_name(('discord', 'token'))} or create one."
                )
            return f"{where} is missing: {self._hint(path)}."
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            variable = self.from_env((*path, "kind"))
            shown = variable or where
            if kind == "union_tag_not_found":
                return f"{shown}: kind is missing; use one of {', '.join(SHOP_KINDS)}."
            tag = error.get("ctx", {}).get("tag", "?")
            return f"{shown}: kind {tag!r} is not a shop kind; use one of {', '.join(SHOP_KINDS)}."
        if kind == "extra_forbidden":
            if variable:
                return f"{variable} is not a known setting; check its spelling."
            return (
                f"{where} is not a known setting; check its spelling against config.example.toml."
            )
        message = str(error["msg"]).removeprefix("Value error, ")
        if variable == env_name(path):
            return f"{variable} (environment, {where}): {message}."
        return f"{where}: {message}."

    def _hint(self, path: tuple[str, ...]) -> str:
        variable = env_name(path)
        if path == ("discord", "token"):
            return f"set token under [discord] in {self.config_file} or {variable}"
        # A shop defined in the environment is completed there, not in a file.
        if len(path) > 2 and path[0] == "shops" and self.from_env(path[:2]):
            return f"set {variable}"
        return f"add it to {self.config_file or 'the config file'} or set {variable}"

    def typos(self) -> list[str]:
        """DROPBELL_ variables with one underscore where __ nests: silently unread otherwise."""
        problems = []
        for key in sorted(self.env):
            rest = key.removeprefix(ENV_PREFIX)
            if key == rest or "__" in rest:
                continue
            section, _, field = rest.lower().partition("_")
            model = Settings.model_fields.get(section)
            fields = getattr(model.annotation, "model_fields", {}) if model else {}
            if field in fields:
                meant = env_name((section, field))
                problems.append(f"{key} is not read (one underscore); did you mean {meant}?")
        return problems


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"Cannot read the config file {path}: {exc.strerror or exc}."]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"The config file {path} is not valid TOML: {exc}."]) from exc


def load_settings(path: Path | None = None, *, need_token: bool = True) -> Settings:
    """Load settings from ``path`` (or ./config.toml if present) and the environment.

    An explicit path that cannot be read is an error; the default path is optional, so a
    configuration given wholly through the environment works too. ``need_token=False`` is for
    commands that never talk to Discord (``db upgrade``).
    """
    config_file = path
    if path is not None:
        data = read_toml(path)
    elif DEFAULT_CONFIG_PATH.exists():
        config_file = DEFAULT_CONFIG_PATH
        data = read_toml(DEFAULT_CONFIG_PATH)
    else:
        data = {}
    if not need_token:
        # Only a stand-in for validation; the environment, read first, still wins.
        discord = data.setdefault("discord", {})
        if isinstance(discord, dict):
            discord.setdefault("token", "not-needed-by-this-command")
    sources = _Sources(config_file, DEFAULT_CONFIG_PATH)
    problems = sources.typos()
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems += [sources.describe(error) for error in exc.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings
