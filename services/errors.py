"""Refusals meant for a person, raised by the rules and shown by the one error path."""

from __future__ import annotations

import secrets


class UserError(Exception):
    """A refusal meant for the person who clicked or typed: one sentence, what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class LoggedFailure(UserError):
    """A fault that was already logged (with its traceback) under ``error_id``.

    Raised where one fault reaches many people (a failed join batch answers every fan in it):
    the log has it once, and each person gets the sentence that quotes the id.
    """

    def __init__(self, error_id: str) -> None:
        super().__init__(
            f"Something went wrong on our side (error {error_id}). It has been logged; "
            "please try again in a moment."
        )
        self.error_id = error_id


def new_error_id() -> str:
    return secrets.token_hex(4)
