"""moto in server mode on 127.0.0.1, with a record of every S3 request it answered.

Volume seeding must read a bucket only where the engine allows I/O (create, update, read) and only
the objects that changed; the record is how tests prove it. The server is moto's own WSGI app
(`DomainDispatcherApplication`, as `ThreadedMotoServer` runs it) wrapped in a recorder.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import BaseWSGIServer, make_server

ACCESS_KEY = "FAKEVOLUMESEEDKEY001"
SECRET_KEY = "volume-seed-secret-key-never-printed"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Request:
    method: str
    path: str
    query: str

    @property
    def operation(self) -> str:
        """The S3 operation, as far as tests care: ListObjectsV2, GetObject, HeadObject or METHOD."""
        if self.method == "GET" and "list-type=2" in self.query:
            return "ListObjectsV2"
        if self.method in ("GET", "HEAD") and self.path.count("/") >= 2:
            return "GetObject" if self.method == "GET" else "HeadObject"
        return self.method

    @property
    def key(self) -> str:
        """The object key of a path-style request (`/<bucket>/<key>`)."""
        return unquote(self.path.split("/", 2)[2]) if self.path.count("/") >= 2 else ""


class RecordingMoto:
    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        self.requests: list[S3Request] = []
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if not path.startswith("/moto-api"):
                with self._lock:
                    self.requests.append(S3Request(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", "")))
            return app(environ, start_response)

        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, recording, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RecordingMoto:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        """An empty store and an empty record."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def operations(self) -> list[tuple[str, str]]:
        """(operation, key) of every request so far, keys only for object operations."""
        with self._lock:
            return [(r.operation, r.key if r.operation.endswith("Object") else "") for r in self.requests]


def client(url: str) -> Any:
    """A plain boto3 client for arranging and asserting the store's state."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )
