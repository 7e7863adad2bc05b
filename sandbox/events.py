"""Guild scheduled events: the REST routes, Discord's field rules, and statuses that move by
themselves (an external event turns ACTIVE at its start and COMPLETED at its end)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads
from .http_util import MISSING_PERMISSIONS, HTTPError, invalid_form, jresp, no_content, read_body
from .limits import RuleBook
from .models import ADMINISTRATOR, CREATE_EVENTS, MANAGE_EVENTS, iso, utcnow
from .world import World

SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4
STAGE, VOICE, EXTERNAL = 1, 2, 3
GUILD_ONLY = 2
# Status changes a bot may ask for with PATCH (Discord's documented transitions).
ALLOWED_TRANSITIONS = {(SCHEDULED, ACTIVE), (SCHEDULED, CANCELED), (ACTIVE, COMPLETED)}
FIELDS = (
    "name",
    "description",
    "scheduled_start_time",
    "scheduled_end_time",
    "privacy_level",
    "entity_type",
    "entity_metadata",
    "channel_id",
    "image",
    "recurrence_rule",
)


class ScheduledEvents:
    def __init__(self, world: World, rules: RuleBook, dispatch: Callable[[str, Any], bool]) -> None:
        self.world = world
        self.rules = rules
        self.dispatch = dispatch

    def routes(self) -> list[tuple[str, str, Any]]:
        base = "/guilds/{guild_id}/scheduled-events"
        return [
            ("GET", base, self.list_events),
            ("POST", base, self.create_event),
            ("GET", base + "/{event_id}", self.get_event),
            ("PATCH", base + "/{event_id}", self.edit_event),
            ("DELETE", base + "/{event_id}", self.delete_event),
        ]

    # -- automatic status -------------------------------------------------------------------
    def advance(self, now: dt.datetime | None = None) -> int:
        """Start and end external events whose time has come; returns how many changed."""
        if not self.rules.on("scheduled_event_rules"):
            return 0
        now = now or utcnow()
        changed = 0
        for events in self.world.scheduled_events.values():
            for event in events.values():
                if int(event["entity_type"]) != EXTERNAL:
                    continue  # stage and voice events are started by their host
                status = int(event["status"])
                start = _parse_time(event["scheduled_start_time"], "scheduled_start_time")
                end = _parse_time(event["scheduled_end_time"], "scheduled_end_time")
                if status == SCHEDULED and start <= now:
                    status = ACTIVE
                if status == ACTIVE and end <= now:
                    status = COMPLETED
                if status != int(event["status"]):
                    event["status"] = status
                    self.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event)
                    changed += 1
        return changed

    # -- routes -----------------------------------------------------------------------------
    def _events(self, request: web.Request, bits: int = 0) -> tuple[int, dict[int, dict[str, Any]]]:
        gid = _int(request.match_info["guild_id"])
        if gid not in self.world.guilds:
            raise HTTPError(404, 10004, "Unknown Guild")
        perms = self.world.guilds[gid].bot_permissions
        if bits and not perms & bits and not perms & ADMINISTRATOR:
            raise HTTPError(*MISSING_PERMISSIONS)
        return gid, self.world.scheduled_events[gid]

    def _event(self, request: web.Request, bits: int = 0) -> tuple[int, dict[str, Any]]:
        gid, events = self._events(request, bits)
        event = events.get(_int(request.match_info["event_id"]))
        if event is None:
            raise HTTPError(404, 10070, "Unknown Guild Scheduled Event")
        return gid, event

    async def list_events(self, request: web.Request) -> web.Response:
        self.advance()
        _, events = self._events(request)
        return jresp(list(events.values()))

    async def get_event(self, request: web.Request) -> web.Response:
        self.advance()
        _, event = self._event(request)
        return jresp(event)

    async def create_event(self, request: web.Request) -> web.Response:
        gid, events = self._events(request, MANAGE_EVENTS | CREATE_EVENTS)
        body, _ = await read_body(request)
        event = self._apply({}, body, creating=True)
        event.update(
            id=str(self.world.ids.now()),
            guild_id=str(gid),
            creator_id=str(self.world.bot.id),
            creator=payloads.user(self.world.bot),
            status=SCHEDULED,
            entity_id=None,
            user_count=0,
        )
        events[int(event["id"])] = event
        self.dispatch("GUILD_SCHEDULED_EVENT_CREATE", event)
        return jresp(event)

    async def edit_event(self, request: web.Request) -> web.Response:
        self.advance()
        _, event = self._event(request, MANAGE_EVENTS)
        body, _ = await read_body(request)
        strict = self.rules.on("scheduled_event_rules")
        if strict and int(event["status"]) in (COMPLETED, CANCELED):
            raise HTTPError(400, 180000, "Cannot update a finished event")
        if "status" in body:
            wanted = int(body["status"])
            if strict and (int(event["status"]), wanted) not in ALLOWED_TRANSITIONS | {
                (int(event["status"]), int(event["status"]))
            }:
                raise invalid_form(
                    ("status",),
                    "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
                    "Invalid status transition",
                )
        self._apply(event, body, creating=False)
        if "status" in body:
            event["status"] = int(body["status"])
        self.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event)
        return jresp(event)

    async def delete_event(self, request: web.Request) -> web.Response:
        gid, event = self._event(request, MANAGE_EVENTS)
        del self.world.scheduled_events[gid][int(event["id"])]
        self.dispatch("GUILD_SCHEDULED_EVENT_DELETE", event)
        return no_content()

    def _apply(
        self, event: dict[str, Any], body: dict[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        strict = self.rules.on("scheduled_event_rules")
        before = dict(event)
        for key in FIELDS:
            if key in body:
                event[key] = body[key]
        if creating:
            for key in ("name", "scheduled_start_time", "entity_type") + (
                ("privacy_level",) if strict else ()
            ):
                if event.get(key) in (None, ""):
                    raise _required(key)
            event.setdefault("privacy_level", GUILD_ONLY)
            for key in ("description", "scheduled_end_time", "channel_id", "image"):
                event.setdefault(key, None)
            event.setdefault("entity_metadata", None)
        if not 1 <= len(str(event.get("name", ""))) <= 100:
            raise invalid_form(
                ("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        if strict and int(event["privacy_level"]) != GUILD_ONLY:
            raise invalid_form(
                ("privacy_level",), "BASE_TYPE_CHOICES", "Value must be one of (2,)."
            )
        kind = int(event["entity_type"])
        if strict and kind not in (STAGE, VOICE, EXTERNAL):
            raise invalid_form(
                ("entity_type",), "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3)."
            )
        start = _parse_time(event["scheduled_start_time"], "scheduled_start_time")
        start_changed = (
            creating or before.get("scheduled_start_time") != event["scheduled_start_time"]
        )
        if start_changed and start < utcnow() and (creating or strict):
            raise invalid_form(
                ("scheduled_start_time",),
                "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
                "Cannot schedule event in the past.",
            )
        if kind == EXTERNAL:
            if not (event.get("entity_metadata") or {}).get("location"):
                raise _required("entity_metadata.location")
            if not event.get("scheduled_end_time"):
                raise _required("scheduled_end_time")
        elif strict and not event.get("channel_id"):
            raise _required("channel_id")
        end = event.get("scheduled_end_time")
        if end and _parse_time(end, "scheduled_end_time") <= start:
            raise invalid_form(
                ("scheduled_end_time",),
                "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
                "Cannot schedule event to end before starting.",
            )
        event["scheduled_start_time"] = iso(start)
        return event


def _required(key: str) -> HTTPError:
    return invalid_form(tuple(key.split(".")), "BASE_TYPE_REQUIRED", "This field is required")


def _parse_time(value: Any, key: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise invalid_form((key,), "DATE_TYPE_PARSE", "Could not parse date.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
