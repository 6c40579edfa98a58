"""Structured logs: one JSON object per line on stdout, which Cloud Logging parses into fields.

Callers pass identifiers (job id, model, caller name), never request bodies or headers, so no
secret or user payload reaches the logs.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

LOGGER = logging.getLogger("modelstack.gateway")

_SEVERITY = {"WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL", "INFO": "INFO", "DEBUG": "DEBUG"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and message only: tracebacks can quote local variables' values.
            entry["exception"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(entry, default=str)


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False


def event(level: int, message: str, **fields: Any) -> None:
    LOGGER.log(level, message, extra={"fields": fields})


def failure(message: str, exc: BaseException, **fields: Any) -> None:
    LOGGER.error(message, extra={"fields": {**fields, "exception": f"{type(exc).__name__}: {exc}"}})
