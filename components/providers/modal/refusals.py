"""Which `ModalApp` input a refusal by Modal's server is about, so a failed deploy names the key.

The modal client sends GPU strings, timeouts, cron strings and web endpoint labels to the server
as they are, and the server refuses bad ones with a message about the function (`H100:9`, a
timeout above 24 hours). The stack's config checks GPU type and count, and `check` the timeouts,
before anything is sent; but a ModalApp's own `gpu` input and the app file (`gpu="A100-70GB"` or a
`modal.Cron` in a decorator) reach Modal unchecked, so the error says both where to look.
"""

from __future__ import annotations

import re

# (what the message is about, the input that sets it). Order matters: the first match wins.
_SUBJECTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bGPU", re.IGNORECASE), "gpu"),
    (re.compile(r"startup timeout|startup_timeout", re.IGNORECASE), "startupTimeout"),
    (re.compile(r"\btimeout\b", re.IGNORECASE), "timeout"),
    (re.compile(r"\bcron\b|\bschedule\b", re.IGNORECASE), "warmSchedule"),
    (re.compile(r"\blabel\b|web endpoint|web url", re.IGNORECASE), "webEndpoints"),
)
_REFUSALS = ("InvalidError", "AlreadyExistsError")


def input_for(error_type: str, message: str) -> str | None:
    """The input a refusal is about, or None when it is not one of these."""
    if error_type not in _REFUSALS:
        return None
    return next((key for pattern, key in _SUBJECTS if pattern.search(message)), None)


def explain(error_type: str, message: str) -> str | None:
    """Modal's message led by the input it is about and where to fix it; None if not a refusal of one."""
    key = input_for(error_type, message)
    if key is None:
        return None
    return (
        f"Modal refused `{key}`: {message}. Fix the ModalApp input `{key}` (for an endpoint, its config), "
        f"or the app file if it sets this itself"
    )
