"""Logging set-up: one format, and the token scrubbed from anything that is logged."""

from __future__ import annotations

import logging
import sys


class RedactSecrets(logging.Filter):
    """Replace any configured secret that appears in a log record with ``[redacted]``.

    discord.py does not log the token, but a traceback of a failed request or a careless
    f-string could; this is the last line of defence.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if len(secret) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        text = message
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "[redacted]")
        if text != message:
            record.msg, record.args = text, None
        return True


class OneLineReconnects(logging.Filter):
    """discord.py logs every gateway reconnect with ``_log.exception``: a long traceback for an
    event an operator only needs to know happened. Keep one line (with the reason) and move the
    traceback to DEBUG on ``dropbell.gateway``."""

    details = logging.getLogger("dropbell.gateway")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith("Attempting a reconnect"):
            error = record.exc_info[1]
            self.details.debug("gateway reconnect details", exc_info=record.exc_info)
            record.msg = f"gateway connection lost ({type(error).__name__}: {error}); {record.msg}"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


class AlembicBoilerplate(logging.Filter):
    """Alembic announces its dialect on every connection; only the upgrades it runs matter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


def setup_logging(level: int = logging.INFO, secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request chatter from discord.py is noise at INFO.
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration_log = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, AlembicBoilerplate) for f in migration_log.filters):
        migration_log.addFilter(AlembicBoilerplate())
    client_log = logging.getLogger("discord.client")
    if not any(isinstance(f, OneLineReconnects) for f in client_log.filters):
        client_log.addFilter(OneLineReconnects())
