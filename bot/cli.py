"""The ``dropbell`` command line: run, demo, sandbox, check, db upgrade, sync."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings
from bot.config_loading import ConfigError, load_settings
from bot.logs import setup_logging
from bot.preflight import database_problems, preflight

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG = 0, 1, 2
log = logging.getLogger("dropbell.cli")


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="the TOML config file (default: ./config.toml if it exists; "
        "DROPBELL_* environment variables override it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dropbell",
        description="dropbell: pre-order polls, drop announcements, waitlists, countdowns, "
        "reminder DMs, drop-day purchase links from your shop, collector roles and insights, "
        "for Discord communities.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run the bot against Discord (or any compatible server)")
    _config_option(run)

    demo = commands.add_parser(
        "demo", help="run the real bot against the bundled sandbox with a scripted community"
    )
    demo.add_argument("--fans", type=int, default=200, help="how many fans (default 200)")
    demo.add_argument("--quiet", action="store_true", help="print only the final summary")

    sandbox = commands.add_parser(
        "sandbox", help="run the local Discord-compatible server for trying the bot by hand"
    )
    sandbox.add_argument("--port", type=int, default=8765, help="port to listen on (8765)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    sandbox.add_argument(
        "--shop-port", type=int, default=8766, help="port of the sandbox shop (8766)"
    )
    sandbox.add_argument(
        "--webhook-url",
        default="http://127.0.0.1:8080/webhooks/sandbox",
        help="where the sandbox shop sends its webhooks (the bot's listener, web.port 8080)",
    )
    sandbox.add_argument(
        "--seed",
        type=int,
        default=0,
        help="ids of the seeded world derive from this (0): a restart keeps them",
    )

    check = commands.add_parser("check", help="load and validate the configuration")
    _config_option(check)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply database migrations")
    _config_option(upgrade)

    sync = commands.add_parser("sync", help="publish the slash commands to Discord")
    _config_option(sync)
    sync.add_argument(
        "--guild", type=int, default=None, help="sync to this one server only (instant)"
    )
    return parser


def _config_problems(problems: list[str]) -> SystemExit:
    for problem in problems:
        print(f"config: {problem}", file=sys.stderr)
    return SystemExit(EXIT_BAD_CONFIG)


def _settings_or_exit(path: Path | None, *, need_token: bool = True) -> Settings:
    try:
        settings = load_settings(path, need_token=need_token)
    except ConfigError as error:
        raise _config_problems(error.problems) from None
    # Caught here rather than as a connection error deep in SQLAlchemy.
    problems = database_problems(settings.database.url)
    if problems:
        raise _config_problems(problems)
    return settings


def _check(path: Path | None) -> int:
    try:
        settings = load_settings(path)
    except ConfigError as error:
        raise _config_problems(error.problems) from None
    problems = preflight(settings)
    if problems:
        raise _config_problems(problems)
    shops = ", ".join(f"{name} ({shop.kind})" for name, shop in settings.shops.items()) or "none"
    target = "Discord" if settings.discord.is_discord else settings.discord.api_base
    print(
        f"config OK: talks to {target}, database {settings.database_kind}, "
        f"web {settings.web.host}:{settings.web.port}, shops: {shops}"
    )
    return EXIT_OK


async def _db_upgrade(settings: Settings) -> int:
    from storage.engine import Database
    from storage.migrate import upgrade

    async with Database(settings.database.url) as database:
        revision = await upgrade(database)
    print(f"database ({database.kind}) is at migration {revision}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    if args.command == "check":
        return _check(args.config)
    if args.command == "sandbox":
        return _sandbox(args, level)
    if args.command == "demo":
        from bot.demo import run_demo

        if args.fans < 1:
            print("demo: --fans must be at least 1.", file=sys.stderr)
            return EXIT_BAD_CONFIG
        setup_logging(logging.DEBUG if args.verbose else logging.WARNING)
        return asyncio.run(run_demo(fans=args.fans, quiet=args.quiet))

    settings = _settings_or_exit(args.config, need_token=args.command != "db")
    setup_logging(level, secrets=[settings.discord.token.get_secret_value()])
    try:
        return _with_settings(args, settings)
    except Exception as error:
        from bot.failures import explain  # discord and SQLAlchemy load only when needed

        sentence = explain(error, settings)
        if sentence is None:
            raise
        log.debug("%s failed", args.command, exc_info=True)
        print(sentence, file=sys.stderr)
        return EXIT_FAILED


def _with_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "db":
        return asyncio.run(_db_upgrade(settings))
    if args.command == "sync":
        # discord.py's "logging in" line says nothing to someone who asked for one sync.
        logging.getLogger("discord.client").setLevel(logging.WARNING)
        count = asyncio.run(_sync(settings, args.guild))
        where = f"server {args.guild}" if args.guild else "all servers (may take up to an hour)"
        print(f"synced {count} commands to {where}")
        return EXIT_OK
    if args.command == "run":
        from bot.runner import run

        asyncio.run(run(settings))
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command}")


def _sandbox(args: argparse.Namespace, level: int) -> int:
    from sandbox import serve_forever

    setup_logging(level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                serve_forever(
                    args.port,
                    host=args.host,
                    seed=args.seed,
                    shop_port=args.shop_port,
                    webhook_url=args.webhook_url,
                )
            )
    except OSError as error:
        from bot.failures import busy_port

        # Two servers start (Discord's and the shop): the error says which port failed.
        port = getattr(error, "port", args.port)
        option = "--shop-port" if port == args.shop_port != args.port else "--port"
        sentence = busy_port(error, args.host, port, option)
        if sentence is None:
            raise
        log.debug("sandbox failed to start", exc_info=True)
        print(sentence, file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


async def _sync(settings: Settings, guild_id: int | None) -> int:
    from bot.runner import sync_commands

    return await sync_commands(settings, guild_id)


if __name__ == "__main__":
    sys.exit(main())
