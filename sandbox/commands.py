"""Application command schemas checked as Discord checks a bulk overwrite (PUT .../commands).

Errors are keyed like Discord's: ``{"0": {"options": {"2": {"description": {"_errors": ...}}}}}``
where the first key is the command's index in the request.
"""

from __future__ import annotations

import re
from typing import Any

from .validation import FormErrors, Path

CHAT_INPUT = 1
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, NUMBER = 3, 4, 10
CHOICE_TYPES = (STRING, INTEGER, NUMBER)
MAX_COMMAND_SIZE = 4000
MAX_SAFE_INTEGER = 2**53

# Discord allows letters and digits of any script, "-" and "_"; lowercase where it applies.
_CHAT_INPUT_NAME = re.compile(r"^[-_\w]{1,32}$")


def validate_commands(commands: list[Any]) -> FormErrors:
    errors = FormErrors()
    seen: set[tuple[str, int]] = set()
    for index, raw in enumerate(commands):
        if not isinstance(raw, dict):
            errors.add((index,), "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
            continue
        kind = int(raw.get("type") or CHAT_INPUT)
        name = str(raw.get("name", ""))
        if (name, kind) in seen:
            errors.add(
                (index, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique ({name})",
            )
        seen.add((name, kind))
        if kind == CHAT_INPUT:
            _check_name(errors, (index, "name"), name)
            _check_description(errors, (index, "description"), raw.get("description"))
            _check_options(errors, (index, "options"), raw.get("options") or [], depth=0)
        elif not 1 <= len(name) <= 32:
            errors.add(
                (index, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
            )
        if command_size(raw) > MAX_COMMAND_SIZE:
            errors.add(
                (index,),
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({MAX_COMMAND_SIZE})",
            )
    return errors


def command_size(command: dict[str, Any]) -> int:
    """Name, description, option names/descriptions, choice names/values; for each text the
    longest of its localizations counts, as Discord documents."""

    def text(node: dict[str, Any], key: str) -> int:
        base = len(str(node.get(key) or ""))
        localized = node.get(f"{key}_localizations") or {}
        return max([base, *(len(str(v)) for v in localized.values())])

    def option(opt: dict[str, Any]) -> int:
        size = text(opt, "name") + text(opt, "description")
        for choice in opt.get("choices") or []:
            size += text(choice, "name") + len(str(choice.get("value", "")))
        return size + sum(option(sub) for sub in opt.get("options") or [])

    return (
        text(command, "name")
        + text(command, "description")
        + sum(option(o) for o in command.get("options") or [])
    )


def _check_name(errors: FormErrors, where: Path, name: str) -> None:
    if not _CHAT_INPUT_NAME.match(name) or name != name.lower():
        errors.add(where, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid ({name!r})")


def _check_description(errors: FormErrors, where: Path, description: Any) -> None:
    if not 1 <= len(str(description or "")) <= 100:
        errors.add(where, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(errors: FormErrors, where: Path, options: list[Any], depth: int) -> None:
    if len(options) > 25:
        errors.add(where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    optional_seen = False
    for i, opt in enumerate(options):
        at: Path = (*where, i)
        name = str(opt.get("name", ""))
        _check_name(errors, (*at, "name"), name)
        if name in names:
            errors.add(
                (*at, "name"),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        _check_description(errors, (*at, "description"), opt.get("description"))
        kind = int(opt.get("type") or 0)
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            # A group holds subcommands; a subcommand holds plain options; nothing deeper.
            nested_ok = depth == 0 or (depth == 1 and kind == SUB_COMMAND)
            if not nested_ok:
                errors.add(
                    (*at, "type"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Sub-command nesting is too deep",
                )
            children = opt.get("options") or []
            if kind == SUB_COMMAND_GROUP and any(c.get("type") != SUB_COMMAND for c in children):
                errors.add(
                    (*at, "options"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "A sub-command group holds only sub-commands",
                )
            _check_options(errors, (*at, "options"), children, depth + 1)
            continue
        if opt.get("required"):
            if optional_seen:
                errors.add(
                    (*at, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        _check_value_rules(errors, at, kind, opt)


def _check_value_rules(errors: FormErrors, at: Path, kind: int, opt: dict[str, Any]) -> None:
    choices = opt.get("choices") or []
    if choices and kind not in CHOICE_TYPES:
        errors.add(
            (*at, "choices"),
            "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
            "Choices are only allowed on string, integer and number options",
        )
    if len(choices) > 25:
        errors.add((*at, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for j, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name") or "")) <= 100:
            errors.add(
                (*at, "choices", j, "name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        _check_choice_value(errors, (*at, "choices", j, "value"), kind, choice.get("value"))
    if opt.get("autocomplete"):
        if kind not in CHOICE_TYPES:
            errors.add(
                (*at, "autocomplete"),
                "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                "Autocomplete is only allowed on string, integer and number options",
            )
        if choices:
            errors.add(
                (*at, "autocomplete"),
                "APPLICATION_COMMAND_AUTOCOMPLETE_AND_CHOICES",
                "Autocomplete cannot be set together with choices",
            )
    for key, low in (("min_length", 0), ("max_length", 1)):
        if key not in opt or opt[key] is None:
            continue
        value = opt[key]
        if kind != STRING:
            errors.add(
                (*at, key),
                "APPLICATION_COMMAND_OPTION_LENGTH_INVALID",
                f"{key} is only allowed on string options",
            )
        elif not isinstance(value, int) or not low <= value <= 6000:
            errors.add(
                (*at, key),
                "NUMBER_TYPE_MAX" if isinstance(value, int) else "NUMBER_TYPE_COERCE",
                f"{key} must be between {low} and 6000",
            )
    for key in ("min_value", "max_value"):
        if opt.get(key) is not None and kind not in (INTEGER, NUMBER):
            errors.add(
                (*at, key),
                "APPLICATION_COMMAND_OPTION_VALUE_INVALID",
                f"{key} is only allowed on integer and number options",
            )


def _check_choice_value(errors: FormErrors, where: Path, kind: int, value: Any) -> None:
    if kind == STRING:
        if not isinstance(value, str):
            errors.add(where, "BASE_TYPE_STRING", "Must be a string.")
        elif not 1 <= len(value) <= 100:
            errors.add(where, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    elif kind == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(where, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
        elif abs(value) > MAX_SAFE_INTEGER:
            errors.add(where, "NUMBER_TYPE_MAX", f"int value should be <= {MAX_SAFE_INTEGER}.")
    elif kind == NUMBER and (isinstance(value, bool) or not isinstance(value, int | float)):
        errors.add(where, "NUMBER_TYPE_COERCE", f'Value "{value}" is not a number.')
