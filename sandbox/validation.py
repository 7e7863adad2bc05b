"""Message bodies checked the way Discord checks them: 400 / 50035 "Invalid Form Body" with an
``errors`` object that names the offending path (``embeds.0.fields.3.value``...).

Used by every route that creates or edits a message: channel messages, interaction callbacks
(types 4 and 7), followups and their edits, and ``@original``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FLAG_COMPONENTS_V2 = 1 << 15
SELECT_TYPES = (3, 5, 6, 7, 8)
LINK_STYLE = 5
PREMIUM_STYLE = 6

Path = tuple[str | int, ...]


class FormErrors:
    """Field errors as Discord nests them: ``{"embeds": {"0": {"title": {"_errors": [...]}}}}``."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Path, code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def too_long(self, path: Path, value: Any, limit: int) -> None:
        if value is not None and len(str(value)) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def required_text(self, path: Path, value: Any, limit: int) -> None:
        if value is None or str(value) == "":
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        else:
            self.too_long(path, value, limit)


def validate_message(payload: Mapping[str, Any]) -> FormErrors:
    """Discord's limits on content, embeds, components and allowed_mentions."""
    errors = FormErrors()
    errors.too_long(("content",), payload.get("content"), 2000)
    _check_embeds(errors, payload.get("embeds") or [])
    flags = int(payload.get("flags") or 0)
    rows = payload.get("components") or []
    if flags & FLAG_COMPONENTS_V2:
        _check_custom_ids(errors, rows)
    else:
        _check_action_rows(errors, rows)
    _check_allowed_mentions(errors, payload.get("allowed_mentions"))
    return errors


def _check_embeds(errors: FormErrors, embeds: Sequence[Any]) -> None:
    if len(embeds) > 10:
        errors.add(("embeds",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        return
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors.add(("embeds", i), "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
            continue
        where: Path = ("embeds", i)
        errors.too_long((*where, "title"), embed.get("title"), 256)
        errors.too_long((*where, "description"), embed.get("description"), 4096)
        footer = embed.get("footer") or {}
        author = embed.get("author") or {}
        errors.too_long((*where, "footer", "text"), footer.get("text"), 2048)
        errors.too_long((*where, "author", "name"), author.get("name"), 256)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add((*where, "fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields[:25]):
            errors.required_text((*where, "fields", j, "name"), fld.get("name"), 256)
            errors.required_text((*where, "fields", j, "value"), fld.get("value"), 1024)
            total += len(str(fld.get("name") or "")) + len(str(fld.get("value") or ""))
        for text in (embed.get("title"), embed.get("description"), footer.get("text")):
            total += len(str(text or ""))
        total += len(str(author.get("name") or ""))
    if total > 6000:
        errors.add(
            ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def _check_action_rows(errors: FormErrors, rows: Sequence[Any]) -> None:
    if len(rows) > 5:
        errors.add(("components",), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        return
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("type") != 1:
            errors.add(
                ("components", i, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        items = row.get("components") or []
        if not items or len(items) > 5:
            errors.add(
                ("components", i, "components"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
            )
            continue
        has_select = any(c.get("type") in SELECT_TYPES for c in items)
        if has_select and len(items) > 1:
            errors.add(
                ("components", i, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, comp in enumerate(items):
            _check_component(errors, ("components", i, "components", j), comp)
    _check_custom_ids(errors, rows)


def _check_component(errors: FormErrors, where: Path, comp: dict[str, Any]) -> None:
    kind = comp.get("type")
    if kind == 2:
        errors.too_long((*where, "label"), comp.get("label"), 80)
        style = comp.get("style")
        if style == LINK_STYLE:
            if not comp.get("url"):
                errors.add((*where, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
            if comp.get("custom_id") is not None:
                errors.add(
                    (*where, "custom_id"),
                    "BUTTON_COMPONENT_LINK_NO_CUSTOM_ID",
                    "A custom id cannot be specified for a link button",
                )
        elif style != PREMIUM_STYLE and not comp.get("custom_id"):
            errors.add(
                (*where, "custom_id"),
                "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                "A custom id is required",
            )
    elif kind in SELECT_TYPES:
        if not comp.get("custom_id"):
            errors.add((*where, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
        if kind == 3:
            options = comp.get("options") or []
            if not 1 <= len(options) <= 25:
                errors.add(
                    (*where, "options"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 25 in length.",
                )
            for k, option in enumerate(options[:25]):
                errors.required_text((*where, "options", k, "label"), option.get("label"), 100)
                errors.required_text((*where, "options", k, "value"), option.get("value"), 100)


def _check_custom_ids(errors: FormErrors, rows: Sequence[Any]) -> None:
    """custom_id at most 100 characters and unique within the message (any nesting)."""
    seen: set[str] = set()

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, dict):
            custom_id = node.get("custom_id")
            if custom_id is not None and "type" in node:
                errors.too_long((*path, "custom_id"), custom_id, 100)
                if str(custom_id) in seen:
                    errors.add(
                        (*path, "custom_id"),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(str(custom_id))
            for key, value in node.items():
                if isinstance(value, dict | list):
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, (*path, index))

    walk(list(rows), ("components",))


def _check_allowed_mentions(errors: FormErrors, allowed: Any) -> None:
    if allowed is None:
        return
    if not isinstance(allowed, dict):
        errors.add(("allowed_mentions",), "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
        return
    parse = allowed.get("parse") or []
    for i, kind in enumerate(parse):
        if kind not in ("roles", "users", "everyone"):
            errors.add(
                ("allowed_mentions", "parse", i),
                "BASE_TYPE_CHOICES",
                "Value must be one of {'roles', 'users', 'everyone'}.",
            )
    for kind in ("roles", "users"):
        ids = allowed.get(kind) or []
        if kind in parse and ids:
            errors.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
            )
        if len(ids) > 100:
            errors.add(
                ("allowed_mentions", kind),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )


TEXT_INPUT = 4
LABEL = 18
TEXT_INPUT_STYLES = (1, 2)  # short, paragraph


def validate_modal(payload: Mapping[str, Any]) -> FormErrors:
    """Discord's limits on a MODAL response (type 9): a title of 1-45, a custom_id of 1-100,
    1 to 5 rows each holding one text input (in an action row, or a label component), and each
    input's custom_id, style, label (1-45), placeholder (100), value and lengths (0-4000)."""
    errors = FormErrors()
    errors.required_text(("title",), payload.get("title"), 45)
    errors.required_text(("custom_id",), payload.get("custom_id"), 100)
    rows = payload.get("components") or []
    if not 1 <= len(rows) <= 5:
        errors.add(("components",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        return errors
    for i, row in enumerate(rows):
        where: Path = ("components", i)
        if isinstance(row, dict) and row.get("type") == 1:
            items = row.get("components") or []
            if len(items) != 1:
                errors.add((*where, "components"), "BASE_TYPE_BAD_LENGTH", "Must be 1 in length.")
                continue
            _check_text_input(errors, (*where, "components", 0), items[0], row_label=True)
        elif isinstance(row, dict) and row.get("type") == LABEL:
            errors.required_text((*where, "label"), row.get("label"), 45)
            _check_text_input(errors, (*where, "component"), row.get("component") or {}, False)
        else:
            errors.add(
                (*where, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1, 18).',
            )
    _check_custom_ids(errors, rows)
    return errors


def _check_text_input(
    errors: FormErrors, where: Path, comp: Mapping[str, Any], row_label: bool
) -> None:
    if comp.get("type") != TEXT_INPUT:
        errors.add((*where, "type"), "UNION_TYPE_CHOICES", "A modal holds text inputs here.")
        return
    errors.required_text((*where, "custom_id"), comp.get("custom_id"), 100)
    if comp.get("style") not in TEXT_INPUT_STYLES:
        errors.add((*where, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    if row_label:  # in an action row the input carries its own label
        errors.required_text((*where, "label"), comp.get("label"), 45)
    errors.too_long((*where, "placeholder"), comp.get("placeholder"), 100)
    errors.too_long((*where, "value"), comp.get("value"), 4000)
    low, high = comp.get("min_length"), comp.get("max_length")
    if low is not None and not 0 <= int(low) <= 4000:
        errors.add((*where, "min_length"), "NUMBER_TYPE_MAX", "Must be between 0 and 4000.")
    if high is not None and not 1 <= int(high) <= 4000:
        errors.add((*where, "max_length"), "NUMBER_TYPE_MAX", "Must be between 1 and 4000.")
    value = comp.get("value")
    if value is not None and high is not None and len(str(value)) > int(high):
        errors.add((*where, "value"), "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer.")
