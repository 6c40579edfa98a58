"""A fake Runpod API on 127.0.0.1: REST v2 (templates, serverless endpoints, network volumes, container
registry credentials, GPU catalog) plus the GraphQL account-secret operations, for testing the Runpod
provider offline.

It is strict rather than convenient:

- every REST request and response is validated against the vendor's OpenAPI 3.1 document
  (`specs/runpod/runpod-rest-v2.openapi.json`, through openapi-core); every GraphQL request is
  parsed, validated and executed against `specs/runpod/runpod-secrets.graphql` (graphql-core).
  An invalid request gets the API's 422 / GraphQL error and is recorded in `violations`; an invalid
  response (a bug in this fake) is recorded too. The test fixture fails a test that leaves any;
- it enforces the rules the schema cannot express and the provider must respect (unique template
  and secret names, GPU pools and excluded types from the catalog, exactly one of gpu/cpu, volumes
  only grow, volumes attached to an endpoint cannot be deleted, PATCH only changes what it names,
  registry credentials are write-only, a template or endpoint may only name an existing one, and
  deleting one that a pod pulls with is refused "in use" while templates naming it lose the
  reference, as the spec describes `deleteRegistry`);
- it keeps all state in memory, records every request (`requests`), and injects faults on demand
  per operation (`inject`): 429 with Retry-After, 500/503, a hanging response, 404, 400 "in use",
  and a create that is applied and then loses its connection before the answer.

Operations are named by the OpenAPI `operationId` (`createEndpoint`, `getTemplate`, ...) and, for
GraphQL, by the top-level field (`secretCreate`, `secretDelete`, `myself`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import secrets as pysecrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SPECS = Path(__file__).resolve().parent / "specs" / "runpod"
REST_SPEC = SPECS / "runpod-rest-v2.openapi.json"
GRAPHQL_SCHEMA = SPECS / "runpod-secrets.graphql"
CATALOG = Path(__file__).resolve().parents[2] / "components" / "gpu" / "catalog.yaml"
JOB_API = "https://api.runpod.ai/v2"
PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 0
    retry_after: int = 1
    seconds: float = 30.0

    @staticmethod
    def rate_limited(retry_after: int = 1) -> Fault:
        return Fault("rate_limited", 429, retry_after=retry_after)

    @staticmethod
    def server_error(status: int = 500) -> Fault:
        return Fault("server_error", status)

    @staticmethod
    def hang(seconds: float = 30.0) -> Fault:
        """Never answer (until `seconds` pass or the server stops); the request is not applied."""
        return Fault("hang", seconds=seconds)

    @staticmethod
    def not_found() -> Fault:
        return Fault("not_found", 404)

    @staticmethod
    def in_use() -> Fault:
        return Fault("in_use", 400)

    @staticmethod
    def drop_after_commit() -> Fault:
        """Apply the request, then close the connection without answering."""
        return Fault("drop_after_commit")


ALL_FAULTS: dict[str, Fault] = {
    "429": Fault.rate_limited(),
    "500": Fault.server_error(500),
    "503": Fault.server_error(503),
    "hang": Fault.hang(),
    "404": Fault.not_found(),
    "in_use": Fault.in_use(),
    "drop": Fault.drop_after_commit(),
}


@dataclass
class _Injection:
    operation: str
    fault: Fault
    remaining: int


@dataclass
class RecordedRequest:
    method: str
    path: str
    operation: str
    status: int | str
    """HTTP status, or 'dropped' / 'hung' when no answer was sent."""
    body: Any = None
    fault: str | None = None


class _ProblemError(Exception):
    def __init__(self, status: int, detail: str, title: str | None = None):
        self.status = status
        self.detail = detail
        self.title = title or {400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity"}.get(status, "Error")
        super().__init__(detail)


# --------------------------------------------------------------------------------------------
# specifications (parsed once per process: the REST document takes a couple of seconds)
# --------------------------------------------------------------------------------------------


@cache
def _openapi() -> Any:
    from openapi_core import Config, OpenAPI

    spec = json.loads(REST_SPEC.read_text())
    # The document's only server is https://api.runpod.io; requests here come to 127.0.0.1.
    spec["servers"] = [{"url": "/"}]
    # spec_validator_cls=None: checking the vendor's document itself costs seconds per process and
    # is not this fake's job; requests and responses are still validated against it.
    config = Config(spec_validator_cls=None, extra_media_type_deserializers={PROBLEM: json.loads})
    return OpenAPI.from_dict(spec, config=config)


@cache
def _operation_ids() -> dict[tuple[str, str], str]:
    spec = json.loads(REST_SPEC.read_text())
    ops: dict[tuple[str, str], str] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                ops[(method.upper(), path)] = op["operationId"]
    return ops


def _graphql_schema() -> Any:
    from graphql import GraphQLScalarType, build_schema

    schema = build_schema(GRAPHQL_SCHEMA.read_text())
    void = schema.type_map["Void"]
    assert isinstance(void, GraphQLScalarType)
    void.serialize = lambda _value: None  # type: ignore[method-assign]
    return schema


@cache
def _catalog() -> list[dict[str, Any]]:
    """GPU types as `GET /v2/catalog/gpus` lists them, from the catalog shared with the providers."""
    data = yaml.safe_load(CATALOG.read_text())["runpod"]
    gpus = []
    for pool in data["gpus"]:
        for type_id in pool.get("types", []):
            gpus.append(
                {
                    "id": type_id,
                    "name": type_id.replace("NVIDIA ", "").replace("GeForce ", ""),
                    "pool": pool["id"],
                    "manufacturer": "NVIDIA",
                    "memory": int(pool["vramGb"]),
                    "secure": True,
                    "community": True,
                    "price": {"secure": pool["usdPerHour"], "community": pool["usdPerHour"],
                              "serverless": pool["usdPerHour"]},
                    "maxCount": {"secure": 8, "community": 4},
                }
            )
    return gpus


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id(length: int = 10) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(pysecrets.choice(alphabet) for _ in range(length))


_ROUTES = Map(
    [
        Rule("/v2/templates", endpoint="/v2/templates"),
        Rule("/v2/templates/<id>", endpoint="/v2/templates/{id}"),
        Rule("/v2/serverless", endpoint="/v2/serverless"),
        Rule("/v2/serverless/<id>", endpoint="/v2/serverless/{id}"),
        Rule("/v2/serverless/<id>/releases", endpoint="/v2/serverless/{id}/releases"),
        Rule("/v2/network-volumes", endpoint="/v2/network-volumes"),
        Rule("/v2/network-volumes/<id>", endpoint="/v2/network-volumes/{id}"),
        Rule("/v2/registries", endpoint="/v2/registries"),
        Rule("/v2/registries/<id>", endpoint="/v2/registries/{id}"),
        Rule("/v2/catalog/gpus", endpoint="/v2/catalog/gpus"),
        Rule("/graphql", endpoint="graphql"),
    ]
)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # tests read `requests` instead
        pass

    def log_error(self, *args: Any) -> None:
        pass


# --------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------


class FakeRunpod:
    def __init__(self, api_key: str = "rpa_fake_test_key_0123456789"):
        self.api_key = api_key
        self.templates: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.releases: dict[str, list[dict[str, Any]]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, dict[str, Any]] = {}
        """id -> {id, name, description, createdAt, value}; the value is never returned by the API."""
        self.registries: dict[str, dict[str, Any]] = {}
        """id -> {id, name, username, password}; only id and name are ever returned by the API."""
        self.pods: dict[str, str] = {}
        """pod id -> the registry credential it pulled its image with (see `start_pod`)."""
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self._injections: list[_Injection] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._gql = _graphql_schema()

    # ------------------------------------------------------------------ process

    def start(self) -> FakeRunpod:
        _openapi()  # parse the spec before the first request, not inside a client's timeout
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        # A short poll interval: stop() waits for the serve loop to notice, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-runpod", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    # ------------------------------------------------------------------ test controls

    def inject(self, operation: str, fault: Fault, times: int = 1) -> None:
        """Make the next `times` calls of `operation` fail with `fault`."""
        with self._lock:
            self._injections.append(_Injection(operation, fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._injections.clear()

    def calls(self, operation: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if operation is None or r.operation == operation]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def object_counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "templates": len(self.templates),
                "endpoints": len(self.endpoints),
                "volumes": len(self.volumes),
                "secrets": len(self.secrets),
                "registries": len(self.registries),
            }

    def start_pod(self, registry_id: str) -> str:
        """A pod that pulls its image with this credential: the credential is "in use" until `stop_pod`."""
        with self._lock:
            pod_id = _new_id(12)
            self.pods[pod_id] = registry_id
            return pod_id

    def stop_pod(self, pod_id: str) -> None:
        with self._lock:
            self.pods.pop(pod_id, None)

    def apply(self, operation: str, body: dict[str, Any] | None = None, object_id: str | None = None) -> Any:
        """Run an operation directly, as someone using the console or another tool would (no request)."""
        with self._lock:
            _status, payload = getattr(self, f"_op_{operation}")(object_id, body, None)
        return payload

    def find(self, kind: str, name: str) -> list[dict[str, Any]]:
        store = {"templates": self.templates, "endpoints": self.endpoints, "volumes": self.volumes,
                 "secrets": self.secrets, "registries": self.registries}[kind]
        with self._lock:
            return [o for o in store.values() if o["name"] == name]

    # ------------------------------------------------------------------ WSGI entry

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        request = Request(environ)
        response = self._handle(request, environ)
        return response(environ, start_response)

    def _handle(self, request: Request, environ: dict[str, Any]) -> Response:
        adapter = _ROUTES.bind_to_environ(environ)
        try:
            template, args = adapter.match(return_rule=False)
        except HTTPException:
            return self._problem(404, f"no route for {request.method} {request.path}")
        if template == "graphql":
            return self._graphql(request, environ)

        operation = _operation_ids().get((request.method, template))
        if operation is None:
            return self._problem(405, f"{request.method} not allowed on {request.path}", "Method Not Allowed")
        body = request.get_json(silent=True)

        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            response = self._problem(401, "missing or invalid bearer token", "Unauthorized")
            return self._finish(request, operation, response, body)

        problem = self._validate_request(request)
        if problem is not None:
            response = self._problem(422, "Request validation failed.", "Unprocessable Entity", errors=[problem])
            return self._finish(request, operation, response, body)

        fault = self._take_fault(operation)
        if fault is not None and fault.kind != "drop_after_commit":
            return self._apply_fault(request, operation, fault, body, rest=True)

        try:
            with self._lock:
                status, payload = getattr(self, f"_op_{operation}")(args.get("id"), body, request)
            response = self._json(status, payload)
        except _ProblemError as exc:
            response = self._problem(exc.status, exc.detail, exc.title)
        if fault is not None:
            return self._drop(request, operation, environ, body)
        return self._finish(request, operation, response, body)

    # ------------------------------------------------------------------ plumbing

    def _take_fault(self, operation: str) -> Fault | None:
        with self._lock:
            for injection in self._injections:
                if injection.operation == operation and injection.remaining > 0:
                    injection.remaining -= 1
                    return injection.fault
        return None

    def _apply_fault(self, request: Request, operation: str, fault: Fault, body: Any, *, rest: bool) -> Response:
        if fault.kind == "hang":
            self._record(request, operation, "hung", body, fault.kind)
            self._stopping.wait(fault.seconds)
            return Response(status=503)
        if fault.kind == "rate_limited":
            response = self._error(rest, 429, "rate limit exceeded for the minute window", "Too Many Requests")
            response.headers["Retry-After"] = str(fault.retry_after)
        elif fault.kind == "server_error":
            title = "Service Unavailable" if fault.status == 503 else "Internal Server Error"
            response = self._error(rest, fault.status, "upstream temporarily unavailable", title)
        elif fault.kind == "not_found":
            response = self._error(rest, 404, "resource not found", "Not Found")
        elif fault.kind == "in_use":
            response = self._error(rest, 400, "resource is in use and cannot be deleted yet", "Bad Request")
        else:  # pragma: no cover - a new fault kind without a branch
            raise AssertionError(fault.kind)
        return self._finish(request, operation, response, body, fault.kind, validate=rest)

    def _error(self, rest: bool, status: int, detail: str, title: str) -> Response:
        if rest:
            return self._problem(status, detail, title)
        if status in (404, 400):  # GraphQL reports application errors in the body, with HTTP 200
            return self._json(200, {"data": None, "errors": [{"message": detail}]})
        return self._json(status, {"errors": [{"message": detail}]})

    def _drop(self, request: Request, operation: str, environ: dict[str, Any], body: Any) -> Response:
        """The change is applied; now lose the connection before the answer goes out."""
        self._record(request, operation, "dropped", body, "drop_after_commit")
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return Response(status=204)

    def _finish(
        self,
        request: Request,
        operation: str,
        response: Response,
        body: Any,
        fault: str | None = None,
        validate: bool = True,
    ) -> Response:
        if validate:
            self._validate_response(request, response, operation)
        self._record(request, operation, response.status_code, body, fault)
        return response

    def _record(self, request: Request, operation: str, status: int | str, body: Any, fault: str | None) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.path, operation, status, body, fault))

    @staticmethod
    def _json(status: int, payload: Any) -> Response:
        if payload is None:
            return Response(status=status)
        return Response(json.dumps(payload), status=status, content_type="application/json")

    @staticmethod
    def _problem(status: int, detail: str, title: str | None = None, errors: list[str] | None = None) -> Response:
        body: dict[str, Any] = {"title": title or "Error", "status": status, "detail": detail}
        if errors:
            body["errors"] = errors
        return Response(json.dumps(body), status=status, content_type=PROBLEM)

    def _validate_request(self, request: Request) -> str | None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest

        try:
            _openapi().validate_request(WerkzeugOpenAPIRequest(request))
        except Exception as exc:
            detail = _validation_detail(exc)
            with self._lock:
                self.violations.append(f"request {request.method} {request.path}: {detail}")
            return detail
        return None

    def _validate_response(self, request: Request, response: Response, operation: str) -> None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

        try:
            _openapi().validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
        except Exception as exc:
            with self._lock:
                self.violations.append(f"response {operation} {response.status_code}: {_validation_detail(exc)}")

    # ------------------------------------------------------------------ templates

    def _op_listTemplates(self, _id: str | None, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, {"templates": [copy.deepcopy(t) for t in self.templates.values()]}

    def _op_getTemplate(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._template(id_))

    def _op_createTemplate(self, _id: str | None, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        self._unique_template_name(body["name"])
        self._known_registry(body)
        template = {
            "id": _new_id(),
            "name": body["name"],
            "image": body["image"],
            "args": body.get("args", ""),
            "disk": body.get("disk", 20),
            "mounts": body.get("mounts", {}),
            "ports": body.get("ports", []),
            "env": dict(body.get("env", {})),
            "registry": body.get("registry"),
            "serverless": body.get("serverless", False),
            "public": body.get("public", False),
            "category": body.get("category", "NVIDIA"),
            "startSsh": body.get("startSsh", True),
            "startJupyter": body.get("startJupyter", True),
            "allowedCudaVersions": body.get("allowedCudaVersions", []),
        }
        self.templates[template["id"]] = template
        return 201, copy.deepcopy(template)

    def _op_updateTemplate(self, id_: str, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        template = self._template(id_)
        if "name" in body and body["name"] != template["name"]:
            self._unique_template_name(body["name"])
        self._known_registry(body)
        template.update(copy.deepcopy(body))
        return 200, copy.deepcopy(template)

    def _op_deleteTemplate(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        self._template(id_)
        del self.templates[id_]
        return 204, None

    def _template(self, id_: str) -> dict[str, Any]:
        if id_ not in self.templates:
            raise _ProblemError(404, f"template {id_} not found")
        return self.templates[id_]

    def _unique_template_name(self, name: str) -> None:
        if any(t["name"] == name for t in self.templates.values()):
            raise _ProblemError(400, f"a template named {name!r} already exists; template names must be unique")

    # ------------------------------------------------------------------ serverless endpoints

    def _op_listEndpoints(self, _id: str | None, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, {"endpoints": [copy.deepcopy(e) for e in self.endpoints.values()]}

    def _op_getEndpoint(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._endpoint(id_))

    def _op_listEndpointReleases(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        endpoint = self._endpoint(id_)
        releases = self.releases[endpoint["id"]]
        return 200, {
            "endpointVersion": releases[0]["version"],
            "rollout": {"inProgress": False, "workersOnLatest": 0, "workersTotal": 0, "percentOnLatest": 0},
            "releases": copy.deepcopy(releases),
        }

    def _op_createEndpoint(self, _id: str | None, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        if ("gpu" in body) == ("cpu" in body):
            raise _ProblemError(400, "specify exactly one of gpu or cpu")
        self._known_registry(body)
        container = {"image": None, "args": "", "disk": 20, "ports": [], "env": {}, "registry": None}
        if "templateId" in body:
            container.update(self._template_container(body["templateId"]))
        for key in ("image", "args", "disk", "ports", "registry"):
            if key in body:
                container[key] = body[key]
        container["env"] = {**container["env"], **body.get("env", {})}
        endpoint_id = _new_id(14)
        endpoint: dict[str, Any] = {
            "id": endpoint_id,
            "name": body["name"],
            "type": body["type"],
            "requestUrls": _request_urls(endpoint_id, body["type"]),
            **container,
            "workers": {"min": 0, "max": 3, "idleTimeout": 10},
            "scaling": body["scaling"],
            "dataCenterIds": body.get("dataCenterIds", []),
            "networkVolumes": body.get("networkVolumes", []),
            "timeout": body.get("timeout", 300000),
            "flashboot": body.get("flashboot", "OFF"),
            "createdAt": _now(),
        }
        endpoint["workers"].update(body.get("workers", {}))
        if "gpu" in body:
            endpoint["gpu"] = self._gpu_selection(body["gpu"], None)
        else:
            endpoint["cpu"] = [{**c, "memory": 2 * c["vcpuCount"]} for c in body["cpu"]]
        self._check_endpoint(endpoint)
        self.endpoints[endpoint_id] = endpoint
        self.releases[endpoint_id] = [self._release(1, [])]
        return 201, copy.deepcopy(endpoint)

    def _op_updateEndpoint(self, id_: str, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        endpoint = self._endpoint(id_)
        before = copy.deepcopy(endpoint)
        updated = copy.deepcopy(endpoint)
        if ("gpu" in body and "gpu" not in endpoint) or ("cpu" in body and "cpu" not in endpoint):
            raise _ProblemError(400, "the compute family of an endpoint cannot be changed")
        self._known_registry(body)
        if "templateId" in body:
            container = self._template_container(body["templateId"])
            for key in ("image", "args", "disk", "ports", "registry"):
                updated[key] = container[key]
            updated["env"] = {**container["env"], **body.get("env", {})}
        for key in ("name", "image", "args", "disk", "ports", "registry", "dataCenterIds", "networkVolumes",
                    "timeout", "flashboot", "scaling"):
            if key in body:
                updated[key] = copy.deepcopy(body[key])
        if "env" in body and "templateId" not in body:
            updated["env"] = dict(body["env"])
        if "workers" in body:
            updated["workers"].update(body["workers"])
        if "gpu" in body:
            updated["gpu"] = self._gpu_selection(body["gpu"], endpoint["gpu"])
        if "cpu" in body:
            updated["cpu"] = [{**c, "memory": 2 * c["vcpuCount"]} for c in body["cpu"]]
        self._check_endpoint(updated)
        diff = _diff(before, updated)
        endpoint.clear()
        endpoint.update(updated)
        if diff:
            releases = self.releases[id_]
            releases.insert(0, self._release(releases[0]["version"] + 1, diff))
        return 200, copy.deepcopy(endpoint)

    def _op_deleteEndpoint(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        self._endpoint(id_)
        del self.endpoints[id_]
        del self.releases[id_]
        return 204, None

    def _endpoint(self, id_: str) -> dict[str, Any]:
        if id_ not in self.endpoints:
            raise _ProblemError(404, f"endpoint {id_} not found")
        return self.endpoints[id_]

    def _template_container(self, template_id: str) -> dict[str, Any]:
        template = self._template(template_id)
        if not template["serverless"]:
            raise _ProblemError(422, f"template {template_id} is not a serverless template")
        return copy.deepcopy({k: template[k] for k in ("image", "args", "disk", "ports", "env", "registry")})

    def _gpu_selection(self, gpu: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        selection = copy.deepcopy(current) if current else {
            "pools": [], "count": 1, "allowedCudaVersions": [], "minCudaVersion": None}
        if "pools" in gpu:
            # Supplying pools replaces the selection wholesale: exclusions not restated are cleared.
            selection["pools"] = list(gpu["pools"])
            selection["excludedTypes"] = [t.strip() for t in gpu.get("excludedTypes", [])]
        for key in ("count", "allowedCudaVersions", "minCudaVersion"):
            if key in gpu:
                selection[key] = gpu[key]
        pools = {g["pool"]: [] for g in _catalog()}
        for g in _catalog():
            pools[g["pool"]].append(g["id"])
        unknown = [p for p in selection["pools"] if p not in pools]
        if unknown:
            raise _ProblemError(400, f"unknown GPU pool(s) {', '.join(unknown)}; see GET /v2/catalog/gpus")
        eligible = {t for p in selection["pools"] for t in pools[p]}
        stray = [t for t in selection.get("excludedTypes", []) if t not in eligible]
        if stray:
            raise _ProblemError(400, f"excludedTypes {', '.join(stray)} are not GPU types in the selected pools")
        if eligible and eligible <= set(selection.get("excludedTypes", [])):
            raise _ProblemError(400, "the GPU selection excludes every type in its pools")
        if selection["allowedCudaVersions"] and selection["minCudaVersion"]:
            raise _ProblemError(400, "allowedCudaVersions and minCudaVersion are mutually exclusive")
        return selection

    def _check_endpoint(self, endpoint: dict[str, Any]) -> None:
        workers = endpoint["workers"]
        if workers["max"] < workers["min"]:
            raise _ProblemError(400, "workers.max must be >= workers.min")
        if endpoint["type"] == "QUEUE" and endpoint["scaling"]["type"] == "REQUEST_COUNT":
            workers.pop("idleTimeout", None)  # not applicable to that combination; omitted from responses
        missing = [v for v in endpoint["networkVolumes"] if v not in self.volumes]
        if missing:
            raise _ProblemError(400, f"network volume(s) {', '.join(missing)} not found")
        if endpoint.get("image") is None:
            raise _ProblemError(400, "image is required unless the template supplies one")

    @staticmethod
    def _release(version: int, diff: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": _new_id(8), "version": version, "source": "MANUAL", "buildId": None,
                "createdByUserId": None, "workerCount": 0, "createdAt": _now(), "diff": diff}

    # ------------------------------------------------------------------ network volumes

    def _op_listNetworkVolumes(self, _id: str | None, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, {"networkVolumes": [copy.deepcopy(v) for v in self.volumes.values()]}

    def _op_getNetworkVolume(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._volume(id_))

    def _op_createNetworkVolume(self, _id: str | None, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        volume = {"id": _new_id(), "name": body["name"], "size": body["size"], "dataCenter": body["dataCenter"],
                  "type": body.get("type", "STANDARD")}
        self.volumes[volume["id"]] = volume
        return 201, copy.deepcopy(volume)

    def _op_updateNetworkVolume(self, id_: str, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        volume = self._volume(id_)
        if "size" in body and body["size"] < volume["size"]:
            raise _ProblemError(400, f"network volume storage cannot be reduced (is {volume['size']} GB)")
        volume.update(body)
        return 200, copy.deepcopy(volume)

    def _op_deleteNetworkVolume(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        self._volume(id_)
        users = [e["id"] for e in self.endpoints.values() if id_ in e["networkVolumes"]]
        if users:
            raise _ProblemError(400, f"network volume {id_} is in use by endpoint(s) {', '.join(users)}")
        del self.volumes[id_]
        return 204, None

    def _volume(self, id_: str) -> dict[str, Any]:
        if id_ not in self.volumes:
            raise _ProblemError(404, f"network volume {id_} not found")
        return self.volumes[id_]

    # ------------------------------------------------------------------ container registry credentials

    def _op_listRegistries(self, _id: str | None, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, {"registries": [_public_registry(r) for r in self.registries.values()]}

    def _op_getRegistry(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, _public_registry(self._registry(id_))

    def _op_createRegistry(self, _id: str | None, body: dict[str, Any], _req: Request) -> tuple[int, Any]:
        # The spec does not say names are unique; this fake assumes they are (as for templates), the
        # stricter reading: a provider that never relies on a duplicate being accepted works either way.
        if any(r["name"] == body["name"] for r in self.registries.values()):
            raise _ProblemError(400, f"a container registry credential named {body['name']!r} already exists")
        registry = {"id": _new_id(), "name": body["name"], "username": body["username"], "password": body["password"]}
        self.registries[registry["id"]] = registry
        return 201, _public_registry(registry)

    def _op_deleteRegistry(self, id_: str, _body: Any, _req: Request) -> tuple[int, Any]:
        self._registry(id_)
        pods = sorted(p for p, r in self.pods.items() if r == id_)
        if pods:
            raise _ProblemError(400, f"registry credential {id_} is in use by pod(s) {', '.join(pods)}")
        del self.registries[id_]
        # Per the spec, templates do not block the delete: they silently lose the reference.
        for template in self.templates.values():
            if template.get("registry") == id_:
                template["registry"] = None
        return 204, None

    def _registry(self, id_: str) -> dict[str, Any]:
        if id_ not in self.registries:
            raise _ProblemError(404, f"container registry credential {id_} not found")
        return self.registries[id_]

    def _known_registry(self, body: dict[str, Any]) -> None:
        registry = body.get("registry")
        if registry is not None and registry not in self.registries:
            raise _ProblemError(400, f"container registry credential {registry} not found")

    # ------------------------------------------------------------------ catalog

    def _op_listGpuTypes(self, _id: str | None, _body: Any, _req: Request) -> tuple[int, Any]:
        return 200, {"gpus": copy.deepcopy(_catalog())}

    # ------------------------------------------------------------------ GraphQL (secrets)

    def _graphql(self, request: Request, environ: dict[str, Any]) -> Response:
        from graphql import GraphQLError, OperationDefinitionNode, graphql_sync, parse, validate

        payload = request.get_json(silent=True)
        authorized = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            self.violations.append("graphql: body is not a JSON object with a query string")
            return self._json(400, {"errors": [{"message": "Must provide query string."}]})
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            self.violations.append(f"graphql: {exc.message}")
            return self._json(400, {"errors": [{"message": exc.message}]})
        errors = validate(self._gql, document)
        fields = [
            sel.name.value
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
            for sel in d.selection_set.selections
            if hasattr(sel, "name")
        ]
        operation = fields[0] if fields else "graphql"
        if errors:
            self.violations.append(f"graphql {operation}: {'; '.join(e.message for e in errors)}")
            response = self._json(400, {"errors": [{"message": e.message} for e in errors]})
            return self._finish(request, operation, response, payload, validate=False)
        if not authorized:
            response = self._json(401, {"errors": [{"message": "Unauthorized"}]})
            return self._finish(request, operation, response, payload, validate=False)

        fault = self._take_fault(operation)
        if fault is not None and fault.kind != "drop_after_commit":
            return self._apply_fault(request, operation, fault, payload, rest=False)
        with self._lock:
            result = graphql_sync(
                self._gql,
                payload["query"],
                root_value=_SecretsRoot(self),
                variable_values=payload.get("variables"),
                operation_name=payload.get("operationName"),
            )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        if fault is not None:
            return self._drop(request, operation, environ, payload)
        return self._finish(request, operation, self._json(200, body), payload, validate=False)


class _SecretsRoot:
    """Resolvers for the GraphQL root: graphql-core calls these attributes with (info, **args)."""

    def __init__(self, fake: FakeRunpod):
        self._fake = fake

    def myself(self, _info: Any) -> dict[str, Any]:
        public = [{k: v for k, v in s.items() if k != "value"} for s in self._fake.secrets.values()]
        return {"id": "user_fake", "secrets": public}

    def secretCreate(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        from graphql import GraphQLError

        name = input["name"]
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name):
            raise GraphQLError(f"invalid secret name {name!r}")
        if any(s["name"] == name for s in self._fake.secrets.values()):
            raise GraphQLError(f"a secret named {name!r} already exists")
        if not input["value"]:
            raise GraphQLError("secret value must not be empty")
        secret = {"id": _new_id(12), "name": name, "description": input.get("description"),
                  "createdAt": _now(), "value": input["value"]}
        self._fake.secrets[secret["id"]] = secret
        return {k: v for k, v in secret.items() if k != "value"}

    def secretDelete(self, _info: Any, id: str) -> None:
        from graphql import GraphQLError

        if id not in self._fake.secrets:
            raise GraphQLError(f"secret {id} not found")
        del self._fake.secrets[id]
        return None


def _public_registry(registry: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a credential: never the username or password (write-only)."""
    return {"id": registry["id"], "name": registry["name"]}


def _request_urls(endpoint_id: str, kind: str) -> dict[str, str]:
    base = f"{JOB_API}/{endpoint_id}"
    if kind == "LOAD_BALANCER":
        return {"base": f"https://{endpoint_id}.api.runpod.ai", "health": f"https://{endpoint_id}.api.runpod.ai/ping"}
    return {
        "run": f"{base}/run", "runSync": f"{base}/runsync", "status": f"{base}/status/{{job_id}}",
        "stream": f"{base}/stream/{{job_id}}", "cancel": f"{base}/cancel/{{job_id}}",
        "retry": f"{base}/retry/{{job_id}}", "purgeQueue": f"{base}/purge-queue", "health": f"{base}/health",
    }


def _diff(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    entries = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict) and key in ("workers", "gpu"):
            entries.extend(_diff(old, new, f"{name}."))
        else:
            entries.append({"field": name, "old": old, "new": new})
    return entries


def _validation_detail(exc: Exception) -> str:
    parts = [str(exc)]
    cause = exc.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        parts = [f"{type(exc).__name__}: " + "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}" for e in schema_errors)]
    elif cause is not None:
        parts.append(str(cause))
    text = " | ".join(parts)
    return text[:2000]
