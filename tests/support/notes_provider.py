"""A minimal dynamic provider over a JSON file, used only to test `DynamicEngine` itself.

It follows the same rules as the real providers (no state on self beyond plain settings, secret
input kept under the same output name) so the harness is proven on a known-good provider before
the vendor providers rely on it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown


class NotesProvider(ResourceProvider):
    def __init__(self, store: str):
        self.store = store
        self.configured_with: str | None = None

    def configure(self, req: Any) -> None:
        raw = req.config.get("modelstack:credentials")
        self.configured_with = "credentials" if raw else None

    def _load(self) -> dict[str, Any]:
        path = Path(self.store)
        return json.loads(path.read_text()) if path.exists() else {}

    def _save(self, data: dict[str, Any]) -> None:
        Path(self.store).write_text(json.dumps(data))

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        # In preview an input that is not known yet arrives as pulumi.output.Unknown.
        if not isinstance(news.get("text"), (str, Unknown)):
            failures.append(CheckFailure("text", "text must be a string"))
        return CheckResult({"text": news.get("text"), "token": news.get("token", "")}, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("text") != news.get("text") or olds.get("token") != news.get("token")
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        data = self._load()
        note_id = uuid.uuid4().hex[:8]
        data[note_id] = {"text": props["text"], "token": props["token"]}
        self._save(data)
        return CreateResult(note_id, {**props, "configured": self.configured_with or ""})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        data = self._load()
        if id_ not in data:
            return ReadResult("", {})
        return ReadResult(id_, {**props, **data[id_]})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        data = self._load()
        data[id_] = {"text": news["text"], "token": news["token"]}
        self._save(data)
        return UpdateResult({**news, "configured": self.configured_with or ""})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        data = self._load()
        data.pop(id_, None)
        self._save(data)
