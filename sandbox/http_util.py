"""Shared HTTP helpers: JSON responses, request bodies (JSON or multipart), message bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .models import ATTACHMENT_SIZE_LIMIT, FLAG_EPHEMERAL, FLAG_LOADING, Message, StoredFile, utcnow
from .validation import FormErrors, Path, validate_message
from .world import World

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# discord.py reads a body as JSON only when Content-Type is exactly this (no charset).
JSON_HEADERS = {"Content-Type": "application/json"}


def jresp(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = JSON_HEADERS if headers is None else {**headers, **JSON_HEADERS}
    return web.Response(body=_dumps(obj).encode(), status=status, headers=hdrs)


def error(
    status: int, code: int, message: str, errors: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return jresp(body, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)


class HTTPError(Exception):
    """Raised inside handlers; the middleware turns it into a Discord JSON error."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> web.Response:
        response = error(self.status, self.code, self.message, self.errors)
        response.headers.update(self.headers)
        return response


def form_error(errors: FormErrors) -> HTTPError:
    """400 / 50035 naming every offending path, as Discord answers a bad body."""
    return HTTPError(400, 50035, "Invalid Form Body", errors=errors.tree)


def invalid_form(path: Path, code: str, message: str) -> HTTPError:
    errors = FormErrors()
    errors.add(path, code, message)
    return form_error(errors)


def not_found(what: str, code: int) -> HTTPError:
    return HTTPError(404, code, f"Unknown {what}")


MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")


@dataclass
class Upload:
    index: int
    filename: str
    data: bytes
    content_type: str | None


async def read_body(
    request: web.Request, upload_limit: int = ATTACHMENT_SIZE_LIMIT
) -> tuple[dict[str, Any], dict[int, Upload]]:
    """JSON body, or multipart with ``payload_json`` and ``files[n]`` parts. Files adding up to
    more than ``upload_limit`` are refused as Discord does: 413, code 40005, nothing stored."""
    if request.content_type == "multipart/form-data":
        payload: dict[str, Any] = {}
        uploads: dict[int, Upload] = {}
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            name = getattr(part, "name", None) or ""
            raw = await part.read()  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(raw)
            elif name.startswith("files[") and name.endswith("]"):
                index = int(name[6:-1])
                headers = getattr(part, "headers", {})
                uploads[index] = Upload(
                    index=index,
                    filename=getattr(part, "filename", None) or f"file{index}",
                    data=bytes(raw),
                    content_type=headers.get("Content-Type"),
                )
        if sum(len(upload.data) for upload in uploads.values()) > upload_limit:
            raise HTTPError(413, 40005, "Request entity too large")
        return payload, uploads
    raw_body = await request.read()
    if not raw_body:
        return {}, {}
    try:
        parsed = json.loads(raw_body)
    except ValueError:
        raise HTTPError(400, 50109, "The request body contains invalid JSON.") from None
    return (parsed if isinstance(parsed, dict) else {"_list": parsed}), {}


def _files_from(
    world: World,
    payload: dict[str, Any],
    uploads: dict[int, Upload],
    base_url: str,
    existing: list[StoredFile],
) -> list[StoredFile]:
    """Resolve the ``attachments`` array: ids of uploads (new) or of existing attachments."""
    by_id = {f.id: f for f in existing}
    result: list[StoredFile] = []
    used: set[int] = set()
    for item in payload.get("attachments") or []:
        ident = int(item.get("id", -1))
        if ident in uploads and ident not in used:
            up = uploads[ident]
            used.add(ident)
            stored = world.add_file(
                item.get("filename") or up.filename, up.data, up.content_type, base_url
            )
            stored.description = item.get("description")
            result.append(stored)
        elif ident in by_id:
            result.append(by_id[ident])
    for index in sorted(uploads):
        if index not in used:
            up = uploads[index]
            result.append(world.add_file(up.filename, up.data, up.content_type, base_url))
    return result


def check_message_body(
    payload: dict[str, Any], uploads: dict[int, Upload], *, strict: bool, creating: bool = True
) -> None:
    """Discord's form limits (when ``strict``), and a new message must not be empty."""
    if strict:
        errors = validate_message(payload)
        if errors.tree:
            raise form_error(errors)
    if not creating:
        return
    content, embeds = payload.get("content"), payload.get("embeds")
    if not (content or embeds or uploads or payload.get("components") or payload.get("poll")):
        raise HTTPError(400, 50006, "Cannot send an empty message")


def new_message(
    world: World,
    channel_id: int,
    payload: dict[str, Any],
    uploads: dict[int, Upload],
    base_url: str,
    *,
    interaction_id: int | None = None,
    webhook_id: int | None = None,
    listed: bool = True,
) -> Message:
    chan = world.channels.get(channel_id)
    flags = int(payload.get("flags") or 0) & ~FLAG_LOADING
    message = Message(
        id=world.ids.now(),
        channel_id=channel_id,
        guild_id=chan.guild_id if chan else None,
        author_id=world.bot.id,
        content=str(payload.get("content") or ""),
        embeds=list(payload.get("embeds") or []),
        components=list(payload.get("components") or []),
        attachments=_files_from(world, payload, uploads, base_url, []),
        flags=flags,
        interaction_id=interaction_id,
        webhook_id=webhook_id,
    )
    world.resolve_mentions(message, payload.get("allowed_mentions"))
    return world.add_message(message, listed=listed and not flags & FLAG_EPHEMERAL)


def edit_message(
    world: World,
    message: Message,
    payload: dict[str, Any],
    uploads: dict[int, Upload],
    base_url: str,
) -> Message:
    if "content" in payload:
        message.content = str(payload["content"] or "")
    if "embeds" in payload:
        message.embeds = list(payload["embeds"] or [])
    if "components" in payload:
        message.components = list(payload["components"] or [])
    if "attachments" in payload or uploads:
        message.attachments = _files_from(world, payload, uploads, base_url, message.attachments)
    if "flags" in payload and payload["flags"] is not None:
        keep = message.flags & FLAG_EPHEMERAL
        message.flags = (int(payload["flags"]) & ~FLAG_EPHEMERAL) | keep
    was_loading = message.flags & FLAG_LOADING
    message.flags &= ~FLAG_LOADING
    if "content" in payload or "allowed_mentions" in payload:
        world.resolve_mentions(message, payload.get("allowed_mentions"))
    if not was_loading:
        message.edited_at = utcnow()
    message.edits += 1
    world.emit("MESSAGE_UPDATE", message)
    return message
