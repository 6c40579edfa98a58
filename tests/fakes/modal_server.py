"""A fake Modal control plane on 127.0.0.1, for running the real `modal` client offline.

The servicer subclasses `modal_proto.api_grpc.ModalClientBase`, the grpclib service base class the
`modal` package ships, and speaks its messages (`modal_proto.api_pb2`). Point the real client at it
with `MODAL_SERVER_URL=http://127.0.0.1:<port>`. It also serves the HTTP side of the protocol that the
client uses directly: presigned blob upload/download URLs (files of 4 MiB or more) and Volume v2 block
uploads.

What it keeps in memory, per environment: apps (with deployment history and versions), named and
app-owned secrets, volumes (v1 and v2) with their files, images (content-addressed by definition, so an
unchanged image is a cache hit as on Modal), mounts, functions and classes. It checks what the real
server checks where that matters to callers: tokens on every call, that an environment exists, object
names, that every id a definition references exists, that uploaded content matches its sha256/MD5,
and what `modal_rules.py` lists (GPU type and count, timeouts, cron strings, web URL labels). It
keeps each deployed version for `AppRollback` and runs each function's `min_containers` as
containers that `TaskList`, `TaskGetInfo` and `ContainerStop` see (modal_rules.py).

For tests it records every call (method, request, metadata without the token secret, status), can
inject a gRPC status on the next N calls of a method, and lists calls to RPCs it does not implement
(they answer UNIMPLEMENTED), so a test can prove that a code path only used faithful RPCs.

Behaviour that cannot be confirmed against the real service is flagged `ASSUMPTION:` below.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import re
import socket
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpclib.const
from aiohttp import web
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpclib import GRPCError, Status
from grpclib.server import Server
from modal_proto import api_pb2
from modal_proto.api_grpc import ModalClientBase

from tests.fakes import modal_rules

DEFAULT_ENVIRONMENT = "main"
WORKSPACE = "fake-workspace"
IMAGE_BUILDER_VERSION = "2025.06"
V2_BLOCK_SIZE = 8 * 1024 * 1024

_ID_ALPHABET = string.ascii_letters + string.digits
_NAME = re.compile(r"^[a-zA-Z0-9-_.]{1,64}$")
_APP_ID = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
_SERVICE = "/modal.client.ModalClient/"
_GLOBAL = "<global>"
_CLIENT_MOUNT = re.compile(r"^modal-client-mount-[0-9][0-9a-z.+-]*$")


def new_id(prefix: str) -> str:
    return f"{prefix}-" + "".join(random.choices(_ID_ALPHABET, k=22))


def _content_id(prefix: str, key: bytes) -> str:
    digest = hashlib.sha256(key).digest()
    alnum = "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest)
    return f"{prefix}-{alnum[:22]}"


def _now() -> float:
    return time.time()


def _timestamp() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------------------------


@dataclass
class FakeSecret:
    secret_id: str
    name: str  # "" for anonymous (app-owned or ephemeral) secrets
    environment: str
    env: dict[str, str]
    created_at: float
    app_id: str = ""


@dataclass
class FakeFile:
    sha256_hex: str
    size: int
    mode: int
    mtime: int


@dataclass
class FakeVolume:
    volume_id: str
    name: str
    environment: str
    version: int
    created_at: float
    files: dict[str, FakeFile] = field(default_factory=dict)


@dataclass
class FakeImage:
    image_id: str
    definition: api_pb2.Image
    builder_version: str
    built: bool = False


@dataclass
class FakeFunction:
    function_id: str
    app_id: str
    tag: str
    handle_metadata: api_pb2.FunctionHandleMetadata
    definition: api_pb2.Function | None = None
    data: api_pb2.FunctionData | None = None

    @property
    def created(self) -> bool:
        return self.definition is not None or self.data is not None


@dataclass
class FakeClass:
    class_id: str
    app_id: str


@dataclass
class Deployment:
    version: int
    tag: str
    deployed_at: float
    client_version: str
    commit_info: api_pb2.CommitInfo
    function_ids: dict[str, str]
    class_ids: dict[str, str]
    digest: str


@dataclass
class FakeApp:
    app_id: str
    description: str
    environment: str
    state: int
    created_at: float
    name: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    function_ids: dict[str, str] = field(default_factory=dict)
    class_ids: dict[str, str] = field(default_factory=dict)
    deployments: list[Deployment] = field(default_factory=list)
    stopped_at: float = 0.0

    @property
    def version(self) -> int:
        return self.deployments[-1].version if self.deployments else 0

    @property
    def deployed_at(self) -> float:
        return self.deployments[-1].deployed_at if self.deployments else 0.0


@dataclass
class RecordedCall:
    method: str
    request: Message | None
    metadata: dict[str, str]
    """Request metadata; the token secret is replaced by `[redacted]`."""
    status: str = "OK"


@dataclass
class _Fault:
    status: Status
    message: str
    remaining: int


class State:
    """Everything the fake control plane knows. Mutated only under `lock`."""

    def __init__(self, environments: Iterable[str]):
        self.lock = threading.RLock()
        self.environments: dict[str, str] = {name: new_id("en") for name in environments}
        self.apps: dict[str, FakeApp] = {}
        self.deployed: dict[tuple[str, str], str] = {}  # (environment, name) -> app id
        self.secrets: dict[str, FakeSecret] = {}
        self.volumes: dict[str, FakeVolume] = {}
        self.images: dict[str, FakeImage] = {}
        self.image_keys: dict[str, str] = {}  # definition digest -> image id
        self.mounts: dict[str, list[api_pb2.MountFile]] = {}
        self.named_mounts: dict[tuple[str, str], str] = {}
        self.functions: dict[str, FakeFunction] = {}
        self.classes: dict[str, FakeClass] = {}
        self.content: dict[str, bytes] = {}  # sha256 hex -> bytes (mount files, v1 volume files)
        self.blobs: dict[str, bytes | None] = {}  # blob id -> uploaded bytes (None until PUT)
        self.blocks: dict[bytes, bytes] = {}  # sha256 digest -> block (v2 volumes)
        # modal_rules: each deployed version as published (for rollbacks), and containers.
        self.snapshots: dict[tuple[str, int], modal_rules.Snapshot] = {}
        self.tasks: dict[str, modal_rules.FakeTask] = {}

    # -- lookups used by tests ------------------------------------------------------------

    def named_secret(self, environment: str, name: str) -> FakeSecret | None:
        return next(
            (s for s in self.secrets.values() if s.name == name and s.environment == environment), None
        )

    def named_volume(self, environment: str, name: str) -> FakeVolume | None:
        return next(
            (v for v in self.volumes.values() if v.name == name and v.environment == environment), None
        )

    def deployed_app(self, environment: str, name: str) -> FakeApp | None:
        app_id = self.deployed.get((environment, name))
        return self.apps.get(app_id) if app_id else None

    def deployed_functions(self, app: FakeApp) -> dict[str, FakeFunction]:
        return {tag: self.functions[fid] for tag, fid in app.function_ids.items()}

    def volume_bytes(self, volume: FakeVolume, path: str) -> bytes:
        return self.content[volume.files[path.lstrip("/")].sha256_hex]


# --------------------------------------------------------------------------------------------
# the gRPC servicer
# --------------------------------------------------------------------------------------------


def _unimplemented(name: str) -> Callable[..., Any]:
    async def handler(self: FakeModalServicer, call: _Call) -> None:
        self.fake.unimplemented.append(name)
        raise GRPCError(Status.UNIMPLEMENTED, f"the fake Modal server does not implement {name}")

    handler.__name__ = name
    return handler


# Every RPC of the service starts as UNIMPLEMENTED; the servicer overrides the ones it fakes.
_Base = type(
    "_UnimplementedModalClient",
    (ModalClientBase,),
    {name: _unimplemented(name) for name in ModalClientBase.__abstractmethods__},
)


class _Call:
    """The request already read, plus the stream to answer on; handlers see only this."""

    def __init__(self, stream: Any, request: Message, metadata: dict[str, str]):
        self._stream = stream
        self._request = request
        self.metadata = metadata

    async def recv_message(self) -> Message:
        return self._request

    async def send_message(self, message: Message) -> None:
        await self._stream.send_message(message)


def _same_map_entry(a: Any, b: Any) -> bool:
    if a is None or not a.GetOptions().map_entry:
        return False
    for name in ("key", "value"):
        fa, fb = a.fields_by_name[name], b.fields_by_name[name]
        if fa.type != fb.type or fa.message_type is not fb.message_type:
            return False
    return True


def _not_found(what: str) -> GRPCError:
    return GRPCError(Status.NOT_FOUND, what)


class FakeModalServicer(modal_rules.LifecycleRpcs, _Base):  # type: ignore[misc, valid-type]
    def __init__(self, fake: FakeModal):
        self.fake = fake
        self.state = fake.state

    # -- plumbing: auth, recording, faults --------------------------------------------------

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        mapping = super().__mapping__()
        return {
            path: grpclib.const.Handler(self._wrap(path, h.func), h.cardinality, h.request_type, h.reply_type)
            for path, h in mapping.items()
        }

    def _wrap(self, path: str, func: Callable[..., Any]) -> Callable[..., Any]:
        method = path.removeprefix(_SERVICE)

        async def handler(stream: Any) -> None:
            request = await stream.recv_message()
            metadata = {k: v for k, v in stream.metadata.items() if isinstance(v, str)}
            shown = {k: ("[redacted]" if k == "x-modal-token-secret" else v) for k, v in metadata.items()}
            record = RecordedCall(method, request, shown)
            self.fake._record(record)
            try:
                self.fake._authenticate(metadata)
                self.fake._maybe_fault(method)
                await func(_Call(stream, request, metadata))
            except GRPCError as exc:
                record.status = exc.status.name
                raise
            except Exception as exc:  # a bug in the fake: make it loud, not a retried UNKNOWN
                record.status = "INTERNAL"
                self.fake.errors.append(f"{method}: {exc!r}")
                raise GRPCError(Status.INTERNAL, f"fake Modal server error in {method}: {exc!r}") from exc

        return handler

    def _environment(self, name: str) -> str:
        env = name or DEFAULT_ENVIRONMENT
        if env not in self.state.environments:
            raise _not_found(f"Environment '{env}' not found")
        return env

    def _web_url(self, app: FakeApp, tag: str, config: api_pb2.WebhookConfig) -> tuple[str, api_pb2.WebUrlInfo]:
        # ASSUMPTION: labels follow Modal's documented pattern <workspace>[-<env>]--<app>-<function>
        # (class methods: <app>-<class>-<method>), lowercased, truncated to 63 characters with a hash.
        label = config.requested_suffix or f"{app.name or app.description}-{tag.replace('.', '-')}"
        label = re.sub("[^a-z0-9-]", "-", label.lower())
        info = api_pb2.WebUrlInfo()
        if len(label) > 63:
            label = f"{label[:56]}-{hashlib.sha256(label.encode()).hexdigest()[:6]}"
            info.truncated = True
            info.has_unique_hash = True
        host = WORKSPACE if app.environment == DEFAULT_ENVIRONMENT else f"{WORKSPACE}-{app.environment}"
        return f"https://{host}--{label}.modal.run", info

    def _app(self, app_id: str) -> FakeApp:
        app = self.state.apps.get(app_id)
        if app is None:
            raise _not_found(f"App {app_id} not found")
        return app

    @staticmethod
    def _check_name(name: str, kind: str) -> None:
        if not _NAME.match(name) or _APP_ID.match(name):
            raise GRPCError(Status.INVALID_ARGUMENT, f"Invalid {kind} name: '{name}'")

    # -- client, workspace, environments ----------------------------------------------------

    async def ClientHello(self, call: _Call) -> None:
        await call.send_message(api_pb2.ClientHelloResponse(image_builder_version=IMAGE_BUILDER_VERSION))

    async def EnvironmentGetOrCreate(self, call: _Call) -> None:
        req: api_pb2.EnvironmentGetOrCreateRequest = await call.recv_message()
        name = req.deployment_name or DEFAULT_ENVIRONMENT
        with self.state.lock:
            if name not in self.state.environments:
                if req.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                    raise _not_found(f"Environment '{name}' not found")
                self.state.environments[name] = new_id("en")
            env_id = self.state.environments[name]
        suffix = "" if name == DEFAULT_ENVIRONMENT else name
        metadata = api_pb2.EnvironmentMetadata(
            name=name,
            settings=api_pb2.EnvironmentSettings(image_builder_version=IMAGE_BUILDER_VERSION, webhook_suffix=suffix),
        )
        await call.send_message(api_pb2.EnvironmentGetOrCreateResponse(environment_id=env_id, metadata=metadata))

    # -- apps -------------------------------------------------------------------------------

    def _lifecycle(self, app: FakeApp) -> api_pb2.AppLifecycle:
        return api_pb2.AppLifecycle(
            app_state=app.state,  # type: ignore[arg-type]
            created_at=app.created_at,
            created_by="fake-user",
            deployed_at=app.deployed_at,
            deployed_by="fake-user" if app.deployments else "",
            version=app.version,
            stopped_at=app.stopped_at,
            stopped_by="fake-user" if app.stopped_at else "",
        )

    def _app_metadata(self, app: FakeApp) -> api_pb2.AppHandleMetadata:
        return api_pb2.AppHandleMetadata(
            description=app.description,
            app_id=app.app_id,
            environment_name=app.environment,
            lifecycle=self._lifecycle(app),
            functions=dict(app.function_ids),
        )

    async def AppGetByDeploymentName(self, call: _Call) -> None:
        req: api_pb2.AppGetByDeploymentNameRequest = await call.recv_message()
        with self.state.lock:
            env = self._environment(req.environment_name)
            app = self.state.deployed_app(env, req.name)
            resp = api_pb2.AppGetByDeploymentNameResponse(environment_name=env)
            if app is not None:
                resp.app_id = app.app_id
                resp.lifecycle.CopyFrom(self._lifecycle(app))
        await call.send_message(resp)

    async def AppCreate(self, call: _Call) -> None:
        req: api_pb2.AppCreateRequest = await call.recv_message()
        with self.state.lock:
            env = self._environment(req.environment_name)
            app = FakeApp(
                app_id=new_id("ap"),
                description=req.description,
                environment=env,
                state=req.app_state or api_pb2.APP_STATE_INITIALIZING,
                created_at=_now(),
                tags=dict(req.tags),
            )
            self.state.apps[app.app_id] = app
        await call.send_message(
            api_pb2.AppCreateResponse(
                app_id=app.app_id,
                app_page_url=f"https://modal.com/apps/{WORKSPACE}/{env}/{app.app_id}",
                app_logs_url=f"https://modal.com/apps/{WORKSPACE}/{env}/{app.app_id}/logs",
            )
        )

    async def AppGetOrCreate(self, call: _Call) -> None:
        req: api_pb2.AppGetOrCreateRequest = await call.recv_message()
        with self.state.lock:
            if _APP_ID.match(req.app_name):  # lookup by id ignores the environment, as Modal does
                app = self._app(req.app_name)
            else:
                env = self._environment(req.environment_name)
                app = self.state.deployed_app(env, req.app_name)
                if app is None:
                    if req.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                        raise _not_found(f"App '{req.app_name}' not found in environment '{env}'")
                    self._check_name(req.app_name, "App")
                    app = FakeApp(
                        app_id=new_id("ap"),
                        description=req.app_name,
                        environment=env,
                        state=api_pb2.APP_STATE_DEPLOYED,
                        created_at=_now(),
                        name=req.app_name,
                    )
                    self.state.apps[app.app_id] = app
                    self.state.deployed[(env, app.name)] = app.app_id
            resp = api_pb2.AppGetOrCreateResponse(app_id=app.app_id, handle_metadata=self._app_metadata(app))
        await call.send_message(resp)

    async def AppGetInfo(self, call: _Call) -> None:
        req: api_pb2.AppGetInfoRequest = await call.recv_message()
        with self.state.lock:
            resp = api_pb2.AppGetInfoResponse(info=self._app_metadata(self._app(req.app_id)))
        await call.send_message(resp)

    async def AppGetLayout(self, call: _Call) -> None:
        req: api_pb2.AppGetLayoutRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            layout = api_pb2.AppLayout(function_ids=app.function_ids, class_ids=app.class_ids)
            for fid in app.function_ids.values():
                layout.objects.append(
                    api_pb2.Object(object_id=fid, function_handle_metadata=self.state.functions[fid].handle_metadata)
                )
            for tag, cid in app.class_ids.items():
                layout.objects.append(api_pb2.Object(object_id=cid, class_handle_metadata=self._class_metadata(app, tag)))
        await call.send_message(api_pb2.AppGetLayoutResponse(app_layout=layout))

    async def AppHeartbeat(self, call: _Call) -> None:
        req: api_pb2.AppHeartbeatRequest = await call.recv_message()
        with self.state.lock:
            self._app(req.app_id)
        await call.send_message(empty_pb2.Empty())

    async def AppClientDisconnect(self, call: _Call) -> None:
        req: api_pb2.AppClientDisconnectRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            # Only apps still initializing (a deploy that failed midway) or ephemeral are stopped.
            if app.state in (api_pb2.APP_STATE_INITIALIZING, api_pb2.APP_STATE_EPHEMERAL):
                app.state = api_pb2.APP_STATE_STOPPED
                app.stopped_at = _now()
        await call.send_message(empty_pb2.Empty())

    async def AppStop(self, call: _Call) -> None:
        req: api_pb2.AppStopRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            if app.state != api_pb2.APP_STATE_STOPPED:
                app.state = api_pb2.APP_STATE_STOPPED
                app.stopped_at = _now()
            if self.state.deployed.get((app.environment, app.name)) == app.app_id:
                del self.state.deployed[(app.environment, app.name)]
            # ASSUMPTION: objects an app owns (anonymous secrets of its deploys) go with it; Modal
            # documents them as living only as long as their app.
            for secret_id in [s.secret_id for s in self.state.secrets.values() if s.app_id == app.app_id]:
                del self.state.secrets[secret_id]
            modal_rules.stop_app_containers(self.state, app.app_id)
        await call.send_message(empty_pb2.Empty())

    def _digest(self, function_ids: dict[str, str], class_ids: dict[str, str]) -> str:
        h = hashlib.sha256()
        for tag in sorted(function_ids):
            fn = self.state.functions[function_ids[tag]]
            body = fn.definition or fn.data
            h.update(tag.encode() + b"\0" + (body.SerializeToString(deterministic=True) if body else b""))
        h.update(repr(sorted(class_ids)).encode())
        return h.hexdigest()

    async def AppPublish(self, call: _Call) -> None:
        req: api_pb2.AppPublishRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            if app.state == api_pb2.APP_STATE_STOPPED:
                raise GRPCError(Status.FAILED_PRECONDITION, f"App {app.app_id} is stopped")
            for tag, fid in req.function_ids.items():
                fn = self.state.functions.get(fid)
                if fn is None or fn.app_id != app.app_id or not fn.created:
                    raise GRPCError(Status.INVALID_ARGUMENT, f"Function {fid} ({tag}) was not created in this app")
            for tag, cid in req.class_ids.items():
                if cid not in self.state.classes:
                    raise GRPCError(Status.INVALID_ARGUMENT, f"Class {cid} ({tag}) was not created in this app")
            deployed_at = 0.0
            if req.app_state == api_pb2.APP_STATE_DEPLOYED:
                self._check_name(req.name, "App")
                modal_rules.refuse_labels(self.state, app, dict(req.function_ids))
                holder = self.state.deployed.get((app.environment, req.name))
                if holder and holder != app.app_id:
                    raise GRPCError(
                        Status.ALREADY_EXISTS,
                        f"An app named '{req.name}' is already deployed in environment '{app.environment}'",
                    )
                digest = self._digest(dict(req.function_ids), dict(req.class_ids))
                # A redeploy with identical definitions is a no-op: no new version, deployed_at 0.
                if not (app.deployments and app.deployments[-1].digest == digest and app.name == req.name):
                    deployed_at = _now()
                    app.deployments.append(
                        Deployment(
                            version=app.version + 1,
                            tag=req.deployment_tag,
                            deployed_at=deployed_at,
                            client_version=call.metadata.get("x-modal-client-version", ""),
                            commit_info=req.commit_info,
                            function_ids=dict(req.function_ids),
                            class_ids=dict(req.class_ids),
                            digest=digest,
                        )
                    )
                app.name = req.name
                self.state.deployed[(app.environment, req.name)] = app.app_id
            app.state = req.app_state or app.state
            app.function_ids = dict(req.function_ids)
            app.class_ids = dict(req.class_ids)
            app.tags.update(req.tags)
            if req.app_state == api_pb2.APP_STATE_DEPLOYED:
                modal_rules.after_publish(self.state, app, deployed_at, new_id)
            url = f"https://modal.com/apps/{WORKSPACE}/{app.environment}/{app.name or app.app_id}"
        await call.send_message(api_pb2.AppPublishResponse(url=url, deployed_at=deployed_at))

    # -- images -----------------------------------------------------------------------------

    async def ImageGetOrCreate(self, call: _Call) -> None:
        req: api_pb2.ImageGetOrCreateRequest = await call.recv_message()
        with self.state.lock:
            definition = req.image
            for base in definition.base_images:
                if base.image_id not in self.state.images:
                    raise _not_found(f"Image {base.image_id} not found")
            if definition.context_mount_id and definition.context_mount_id not in self.state.mounts:
                raise _not_found(f"Mount {definition.context_mount_id} not found")
            for secret_id in definition.secret_ids:
                if secret_id not in self.state.secrets:
                    raise _not_found(f"Secret {secret_id} not found")
            key = hashlib.sha256(
                definition.SerializeToString(deterministic=True)
                + req.builder_version.encode()
                + req.build_function_id.encode()
            ).hexdigest()
            image_id = self.state.image_keys.get(key)
            if image_id is None or req.force_build:
                image_id = new_id("im")
                self.state.image_keys[key] = image_id
                self.state.images[image_id] = FakeImage(image_id, definition, req.builder_version)
            image = self.state.images[image_id]
            resp = api_pb2.ImageGetOrCreateResponse(image_id=image_id)
            if image.built:  # cache hit: the client skips ImageJoinStreaming
                resp.result.status = api_pb2.GenericResult.GENERIC_STATUS_SUCCESS
                resp.metadata.CopyFrom(self._image_metadata(image))
        await call.send_message(resp)

    @staticmethod
    def _image_metadata(image: FakeImage) -> api_pb2.ImageMetadata:
        return api_pb2.ImageMetadata(
            python_version_info="3.11.11 (main) [GCC 12.2.0]",
            image_builder_version=image.builder_version or IMAGE_BUILDER_VERSION,
            workdir="/root",
            libc_version_info="glibc 2.36",
        )

    async def ImageJoinStreaming(self, call: _Call) -> None:
        req: api_pb2.ImageJoinStreamingRequest = await call.recv_message()
        with self.state.lock:
            image = self.state.images.get(req.image_id)
            if image is None:
                raise _not_found(f"Image {req.image_id} not found")
            failure = self.fake.image_build_failure
        commands = list(image.definition.dockerfile_commands)
        log = api_pb2.TaskLogs(
            data=f"fake build of {image.image_id}: {len(commands)} Dockerfile commands\n",
            file_descriptor=api_pb2.FILE_DESCRIPTOR_STDOUT,
            timestamp=_now(),
        )
        await call.send_message(api_pb2.ImageJoinStreamingResponse(task_logs=[log], entry_id="1"))
        result = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS)
        if failure:
            result = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_FAILURE, exception=failure)
        else:
            with self.state.lock:
                image.built = True
        await call.send_message(
            api_pb2.ImageJoinStreamingResponse(
                result=result, metadata=self._image_metadata(image), entry_id="2", eof=True
            )
        )

    # -- mounts and blobs -------------------------------------------------------------------

    async def MountBatchedCheckExistence(self, call: _Call) -> None:
        req: api_pb2.MountBatchedCheckExistenceRequest = await call.recv_message()
        with self.state.lock:
            missing = [h for h in req.sha256_hex_hashes if h not in self.state.content]
        await call.send_message(
            api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing, checked_at=_timestamp())
        )

    async def MountPutFile(self, call: _Call) -> None:
        req: api_pb2.MountPutFileRequest = await call.recv_message()
        data: bytes | None = None
        if req.WhichOneof("data_oneof") == "data":
            data = req.data
        elif req.data_blob_id:
            with self.state.lock:
                data = self.state.blobs.get(req.data_blob_id)
            if data is None:
                raise _not_found(f"Blob {req.data_blob_id} was never uploaded")
        with self.state.lock:
            if data is not None:
                if hashlib.sha256(data).hexdigest() != req.sha256_hex:
                    raise GRPCError(Status.INVALID_ARGUMENT, "sha256 of the uploaded data does not match sha256_hex")
                self.state.content[req.sha256_hex] = data
            exists = req.sha256_hex in self.state.content
        await call.send_message(api_pb2.MountPutFileResponse(exists=exists, checked_at=_timestamp()))

    def _mount_scope(self, req: api_pb2.MountGetOrCreateRequest) -> str:
        if req.namespace == api_pb2.DEPLOYMENT_NAMESPACE_GLOBAL:
            return _GLOBAL
        return self._environment(req.environment_name)

    async def MountGetOrCreate(self, call: _Call) -> None:
        req: api_pb2.MountGetOrCreateRequest = await call.recv_message()
        with self.state.lock:
            if req.deployment_name and not req.files:  # a lookup of a named mount
                scope = self._mount_scope(req)
                mount_id = self.state.named_mounts.get((scope, req.deployment_name))
                if mount_id is None and scope == _GLOBAL and _CLIENT_MOUNT.match(req.deployment_name):
                    # Modal publishes one client mount per client version in the global namespace.
                    mount_id = _content_id("mo", req.deployment_name.encode())
                    self.state.mounts[mount_id] = []
                    self.state.named_mounts[(scope, req.deployment_name)] = mount_id
                if mount_id is None:
                    raise _not_found(f"Mount '{req.deployment_name}' not found")
            else:
                for f in req.files:
                    if f.sha256_hex not in self.state.content:
                        raise GRPCError(Status.INVALID_ARGUMENT, f"file {f.filename} was not uploaded")
                files = sorted(req.files, key=lambda f: f.filename)
                key = b"".join(f.SerializeToString(deterministic=True) for f in files)
                mount_id = _content_id("mo", key)
                self.state.mounts[mount_id] = files
                if req.deployment_name:
                    self.state.named_mounts[(self._mount_scope(req), req.deployment_name)] = mount_id
            digest = hashlib.sha256(
                b"".join(f.filename.encode() + f.sha256_hex.encode() for f in self.state.mounts[mount_id])
            ).hexdigest()
        await call.send_message(
            api_pb2.MountGetOrCreateResponse(
                mount_id=mount_id, handle_metadata=api_pb2.MountHandleMetadata(content_checksum_sha256_hex=digest)
            )
        )

    async def BlobCreate(self, call: _Call) -> None:
        req: api_pb2.BlobCreateRequest = await call.recv_message()
        blob_id = new_id("bl")
        with self.state.lock:
            self.state.blobs[blob_id] = None
            self.fake._blob_expect[blob_id] = (req.content_md5, req.content_sha256_base64, req.content_length)
        url = f"{self.fake.http_url}/blob/{blob_id}"
        await call.send_message(
            api_pb2.BlobCreateResponse(blob_ids=[blob_id], upload_urls=api_pb2.UploadUrlList(items=[url]))
        )

    # -- secrets ----------------------------------------------------------------------------

    @staticmethod
    def _secret_metadata(secret: FakeSecret) -> api_pb2.SecretMetadata:
        return api_pb2.SecretMetadata(
            name=secret.name,
            creation_info=api_pb2.CreationInfo(created_at=secret.created_at, created_by="fake-user"),
            keys=sorted(secret.env),
            environment_name=secret.environment,
        )

    async def SecretGetOrCreate(self, call: _Call) -> None:
        req: api_pb2.SecretGetOrCreateRequest = await call.recv_message()
        kind = req.object_creation_type
        with self.state.lock:
            env = self._environment(req.environment_name)
            if kind in (api_pb2.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP, api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL):
                if kind == api_pb2.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP:
                    self._app(req.app_id)
                secret = FakeSecret(new_id("st"), "", env, dict(req.env_dict), _now(), app_id=req.app_id)
                self.state.secrets[secret.secret_id] = secret
            else:
                self._check_name(req.deployment_name, "Secret")
                secret = self.state.named_secret(env, req.deployment_name)
                if secret is not None and kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS:
                    raise GRPCError(
                        Status.ALREADY_EXISTS, f"Secret '{req.deployment_name}' already exists in environment '{env}'"
                    )
                if secret is not None and kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS:
                    # ASSUMPTION: an overwrite keeps the secret's id and replaces every key.
                    secret.env = dict(req.env_dict)
                if secret is None:
                    if kind == api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED:
                        raise _not_found(f"Secret '{req.deployment_name}' not found in environment '{env}'")
                    secret = FakeSecret(new_id("st"), req.deployment_name, env, dict(req.env_dict), _now())
                    self.state.secrets[secret.secret_id] = secret
                missing = sorted(set(req.required_keys) - set(secret.env))
                if missing:
                    raise _not_found(f"Secret '{secret.name}' is missing keys: {', '.join(missing)}")
            resp = api_pb2.SecretGetOrCreateResponse(secret_id=secret.secret_id, metadata=self._secret_metadata(secret))
        await call.send_message(resp)

    async def SecretGetInfo(self, call: _Call) -> None:
        req: api_pb2.SecretGetInfoRequest = await call.recv_message()
        with self.state.lock:
            secret = self.state.secrets.get(req.secret_id)
            if secret is None:
                raise _not_found(f"Secret {req.secret_id} not found")
            resp = api_pb2.SecretGetInfoResponse(metadata=self._secret_metadata(secret))
        await call.send_message(resp)

    async def SecretUpdate(self, call: _Call) -> None:
        req: api_pb2.SecretUpdateRequest = await call.recv_message()
        with self.state.lock:
            secret = self.state.secrets.get(req.secret_id)
            if secret is None:
                raise _not_found(f"Secret {req.secret_id} not found")
            for update in req.updates:
                secret.env[update.key] = update.value
        await call.send_message(empty_pb2.Empty())

    async def SecretDelete(self, call: _Call) -> None:
        req: api_pb2.SecretDeleteRequest = await call.recv_message()
        with self.state.lock:
            if self.state.secrets.pop(req.secret_id, None) is None:
                raise _not_found(f"Secret {req.secret_id} not found")
        await call.send_message(empty_pb2.Empty())

    async def SecretList(self, call: _Call) -> None:
        req: api_pb2.SecretListRequest = await call.recv_message()
        with self.state.lock:
            env = self._environment(req.environment_name)
            named = [s for s in self.state.secrets.values() if s.name and s.environment == env]
            items = self._page(named, req.pagination)
            resp = api_pb2.SecretListResponse(
                items=[
                    api_pb2.SecretListItem(
                        label=s.name,
                        created_at=s.created_at,
                        environment_name=env,
                        secret_id=s.secret_id,
                        metadata=self._secret_metadata(s),
                    )
                    for s in items
                ]
            )
        await call.send_message(resp)

    @staticmethod
    def _page(objects: list[Any], pagination: api_pb2.ListPagination) -> list[Any]:
        newest_first = sorted(objects, key=lambda o: o.created_at, reverse=True)
        if pagination.created_before:
            newest_first = [o for o in newest_first if o.created_at < pagination.created_before]
        return newest_first[: pagination.max_objects] if pagination.max_objects else newest_first

    # -- volumes ----------------------------------------------------------------------------

    @staticmethod
    def _volume_metadata(volume: FakeVolume) -> api_pb2.VolumeMetadata:
        return api_pb2.VolumeMetadata(
            version=volume.version,  # type: ignore[arg-type]
            name=volume.name,
            creation_info=api_pb2.CreationInfo(created_at=volume.created_at, created_by="fake-user"),
        )

    def _volume(self, volume_id: str) -> FakeVolume:
        volume = self.state.volumes.get(volume_id)
        if volume is None:
            raise _not_found(f"Volume {volume_id} not found")
        return volume

    async def VolumeGetOrCreate(self, call: _Call) -> None:
        req: api_pb2.VolumeGetOrCreateRequest = await call.recv_message()
        kind = req.object_creation_type
        # ASSUMPTION: new volumes default to VolumeFS v1 unless v2 is asked for (v2 is beta).
        version = req.version or api_pb2.VOLUME_FS_VERSION_V1
        with self.state.lock:
            env = self._environment(req.environment_name)
            if kind in (api_pb2.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP, api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL):
                volume = FakeVolume(new_id("vo"), "", env, version, _now())
                self.state.volumes[volume.volume_id] = volume
            else:
                self._check_name(req.deployment_name, "Volume")
                volume = self.state.named_volume(env, req.deployment_name)
                if volume is not None and kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS:
                    raise GRPCError(
                        Status.ALREADY_EXISTS, f"Volume '{req.deployment_name}' already exists in environment '{env}'"
                    )
                if volume is None:
                    if kind == api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED:
                        raise _not_found(f"Volume '{req.deployment_name}' not found in environment '{env}'")
                    volume = FakeVolume(new_id("vo"), req.deployment_name, env, version, _now())
                    self.state.volumes[volume.volume_id] = volume
                elif req.version and req.version != volume.version:
                    raise GRPCError(
                        Status.INVALID_ARGUMENT,
                        f"Volume '{volume.name}' is VolumeFS v{volume.version}, not v{req.version}",
                    )
            resp = api_pb2.VolumeGetOrCreateResponse(
                volume_id=volume.volume_id,
                version=volume.version,  # type: ignore[arg-type]
                metadata=self._volume_metadata(volume),
            )
        await call.send_message(resp)

    async def VolumeGetById(self, call: _Call) -> None:
        req: api_pb2.VolumeGetByIdRequest = await call.recv_message()
        with self.state.lock:
            volume = self._volume(req.volume_id)
            resp = api_pb2.VolumeGetByIdResponse(volume_id=volume.volume_id, metadata=self._volume_metadata(volume))
        await call.send_message(resp)

    async def VolumeHeartbeat(self, call: _Call) -> None:
        req: api_pb2.VolumeHeartbeatRequest = await call.recv_message()
        with self.state.lock:
            self._volume(req.volume_id)
        await call.send_message(empty_pb2.Empty())

    async def VolumeDelete(self, call: _Call) -> None:
        req: api_pb2.VolumeDeleteRequest = await call.recv_message()
        with self.state.lock:
            self._volume(req.volume_id)
            del self.state.volumes[req.volume_id]
        await call.send_message(empty_pb2.Empty())

    async def VolumeRename(self, call: _Call) -> None:
        req: api_pb2.VolumeRenameRequest = await call.recv_message()
        with self.state.lock:
            volume = self._volume(req.volume_id)
            self._check_name(req.name, "Volume")
            if self.state.named_volume(volume.environment, req.name) is not None:
                raise GRPCError(Status.ALREADY_EXISTS, f"Volume '{req.name}' already exists")
            volume.name = req.name
        await call.send_message(empty_pb2.Empty())

    async def VolumeList(self, call: _Call) -> None:
        req: api_pb2.VolumeListRequest = await call.recv_message()
        with self.state.lock:
            env = self._environment(req.environment_name)
            named = [v for v in self.state.volumes.values() if v.name and v.environment == env]
            resp = api_pb2.VolumeListResponse(
                items=[
                    api_pb2.VolumeListItem(
                        label=v.name, volume_id=v.volume_id, created_at=v.created_at, metadata=self._volume_metadata(v)
                    )
                    for v in self._page(named, req.pagination)
                ]
            )
        await call.send_message(resp)

    def _put(self, volume: FakeVolume, path: str, file: FakeFile, disallow_overwrite: bool) -> None:
        path = path.lstrip("/")
        if disallow_overwrite and path in volume.files:
            raise GRPCError(Status.ALREADY_EXISTS, f"{path}: already exists")
        volume.files[path] = file

    async def VolumePutFiles(self, call: _Call) -> None:
        req: api_pb2.VolumePutFilesRequest = await call.recv_message()
        with self.state.lock:
            volume = self._volume(req.volume_id)
            if volume.version == api_pb2.VOLUME_FS_VERSION_V2:
                raise GRPCError(Status.INVALID_ARGUMENT, "VolumePutFiles is for v1 volumes; use VolumePutFiles2")
            staged = []
            for f in req.files:
                data = self.state.content.get(f.sha256_hex)
                if data is None:
                    raise GRPCError(Status.INVALID_ARGUMENT, f"{f.filename}: content was not uploaded")
                staged.append((f.filename, FakeFile(f.sha256_hex, len(data), f.mode or 0o644, int(_now()))))
            for path, _file in staged:  # all or nothing, as one commit
                if req.disallow_overwrite_existing_files and path.lstrip("/") in volume.files:
                    raise GRPCError(Status.ALREADY_EXISTS, f"{path.lstrip('/')}: already exists")
            for path, file in staged:
                self._put(volume, path, file, False)
        await call.send_message(empty_pb2.Empty())

    def _block_token(self, digest: bytes) -> bytes:
        return hmac.new(self.fake._block_key, digest, hashlib.sha256).digest()

    async def VolumePutFiles2(self, call: _Call) -> None:
        req: api_pb2.VolumePutFiles2Request = await call.recv_message()
        with self.state.lock:
            volume = self._volume(req.volume_id)
            if volume.version != api_pb2.VOLUME_FS_VERSION_V2:
                raise GRPCError(Status.INVALID_ARGUMENT, "VolumePutFiles2 is for v2 volumes; use VolumePutFiles")
            missing = []
            for fi, f in enumerate(req.files):
                for bi, block in enumerate(f.blocks):
                    known = block.contents_sha256 in self.state.blocks
                    vouched = block.put_response and hmac.compare_digest(
                        block.put_response, self._block_token(block.contents_sha256)
                    )
                    if not (known or vouched):
                        missing.append(
                            api_pb2.VolumePutFiles2Response.MissingBlock(
                                file_index=fi,
                                block_index=bi,
                                put_url=f"{self.fake.http_url}/block/{block.contents_sha256.hex()}",
                            )
                        )
            if not missing:
                for f in req.files:
                    # The client leaves trailing zero bytes out of each 8 MiB block (they are not
                    # hashed either); the service fills every block but the last back to full size,
                    # and the file to its declared size.
                    blocks = [self.state.blocks[b.contents_sha256] for b in f.blocks]
                    padded = [block.ljust(V2_BLOCK_SIZE, b"\0") for block in blocks[:-1]] + blocks[-1:]
                    data = b"".join(padded).ljust(f.size, b"\0")
                    sha = hashlib.sha256(data).hexdigest()
                    self.state.content[sha] = data
                    self._put(
                        volume, f.path, FakeFile(sha, f.size, f.mode or 0o644, int(_now())), req.disallow_overwrite_existing_files
                    )
        await call.send_message(api_pb2.VolumePutFiles2Response(missing_blocks=missing))

    def _entries(self, volume: FakeVolume, path: str, recursive: bool) -> list[api_pb2.FileEntry]:
        prefix = path.strip("/")
        if prefix and prefix in volume.files:
            f = volume.files[prefix]
            return [api_pb2.FileEntry(path=prefix, type=api_pb2.FileEntry.FILE, mtime=f.mtime, size=f.size)]
        base = f"{prefix}/" if prefix else ""
        under = {p: f for p, f in volume.files.items() if p.startswith(base)}
        if prefix and not under:
            raise _not_found(f"No such file or directory: {prefix}")
        entries: dict[str, api_pb2.FileEntry] = {}
        for p, f in sorted(under.items()):
            parts = p[len(base) :].split("/")
            for depth in range(1, len(parts)):
                directory = base + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(directory, api_pb2.FileEntry(path=directory, type=api_pb2.FileEntry.DIRECTORY))
            if recursive or len(parts) == 1:
                entries[p] = api_pb2.FileEntry(path=p, type=api_pb2.FileEntry.FILE, mtime=f.mtime, size=f.size)
        return [entries[k] for k in sorted(entries)]

    async def _list_files(self, call: _Call, response_type: Any) -> None:
        req = await call.recv_message()
        with self.state.lock:
            volume = self._volume(req.volume_id)
            entries = self._entries(volume, req.path, req.recursive)
        if req.max_entries:
            entries = entries[: req.max_entries]
        for start in range(0, max(len(entries), 1), 100):  # streamed in batches, as Modal does
            await call.send_message(response_type(entries=entries[start : start + 100]))

    async def VolumeListFiles(self, call: _Call) -> None:
        await self._list_files(call, api_pb2.VolumeListFilesResponse)

    async def VolumeListFiles2(self, call: _Call) -> None:
        await self._list_files(call, api_pb2.VolumeListFiles2Response)

    async def _remove_file(self, call: _Call) -> None:
        req = await call.recv_message()
        with self.state.lock:
            volume = self._volume(req.volume_id)
            path = req.path.strip("/")
            doomed = [p for p in volume.files if p == path or (req.recursive and p.startswith(f"{path}/"))]
            if not doomed:
                raise _not_found(f"No such file or directory: {path}")
            for p in doomed:
                del volume.files[p]
        await call.send_message(empty_pb2.Empty())

    async def VolumeRemoveFile(self, call: _Call) -> None:
        await self._remove_file(call)

    async def VolumeRemoveFile2(self, call: _Call) -> None:
        await self._remove_file(call)

    # -- functions and classes --------------------------------------------------------------

    def _handle_metadata(
        self, app: FakeApp, function_id: str, name: str, function_type: int, webhook: api_pb2.WebhookConfig,
        methods: dict[str, api_pb2.MethodDefinition], schema: api_pb2.FunctionSchema,
    ) -> api_pb2.FunctionHandleMetadata:
        metadata = api_pb2.FunctionHandleMetadata(
            function_name=name,
            function_type=function_type,  # type: ignore[arg-type]
            app_id=app.app_id,
            definition_id=_content_id("de", function_id.encode()),
            function_schema=schema,
            max_object_size_bytes=2 * 1024 * 1024,
        )
        if webhook.type:
            metadata.web_url = self._web_url(app, name, webhook)[0]
        for method_name, definition in methods.items():
            method = api_pb2.FunctionHandleMetadata(
                function_name=definition.function_name,
                function_type=definition.function_type,
                is_method=True,
                use_method_name=method_name,
                app_id=app.app_id,
                function_schema=definition.function_schema,
            )
            if definition.webhook_config.type:
                method.web_url = self._web_url(app, definition.function_name, definition.webhook_config)[0]
            metadata.method_handle_metadata[method_name].CopyFrom(method)
        return metadata

    def _fill_web_urls(self, app: FakeApp, definition: Any) -> None:
        if definition.webhook_config.type:
            url, info = self._web_url(app, definition.function_name, definition.webhook_config)
            definition.web_url = url
            definition.web_url_info.CopyFrom(info)
        for method in definition.method_definitions.values():
            if method.webhook_config.type:
                url, info = self._web_url(app, method.function_name, method.webhook_config)
                method.web_url = url
                method.web_url_info.CopyFrom(info)

    async def FunctionPrecreate(self, call: _Call) -> None:
        req: api_pb2.FunctionPrecreateRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            function_id = req.existing_function_id
            if function_id and function_id not in self.state.functions:
                raise _not_found(f"Function {function_id} not found")
            function_id = function_id or new_id("fu")
            metadata = self._handle_metadata(
                app, function_id, req.function_name, req.function_type, req.webhook_config,
                dict(req.method_definitions), req.function_schema,
            )
            self.state.functions[function_id] = FakeFunction(function_id, app.app_id, req.function_name, metadata)
        await call.send_message(api_pb2.FunctionPrecreateResponse(function_id=function_id, handle_metadata=metadata))

    def _check_references(self, definition: api_pb2.Function) -> None:
        if definition.image_id and definition.image_id not in self.state.images:
            raise _not_found(f"Image {definition.image_id} not found")
        if definition.image_id and not self.state.images[definition.image_id].built:
            raise GRPCError(Status.FAILED_PRECONDITION, f"Image {definition.image_id} is not built")
        for mount_id in definition.mount_ids:
            if mount_id not in self.state.mounts:
                raise _not_found(f"Mount {mount_id} not found")
        for secret_id in definition.secret_ids:
            if secret_id not in self.state.secrets:
                raise _not_found(f"Secret {secret_id} not found")
        for volume_mount in definition.volume_mounts:
            if volume_mount.volume_id not in self.state.volumes:
                raise _not_found(f"Volume {volume_mount.volume_id} not found")

    @staticmethod
    def _function_data(definition: api_pb2.Function) -> api_pb2.FunctionData:
        data = api_pb2.FunctionData()
        source_fields = definition.DESCRIPTOR.fields_by_name
        for fd in data.DESCRIPTOR.fields:
            src = source_fields.get(fd.name)
            if src is None or src.type != fd.type or src.label != fd.label:
                continue
            is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
            if is_map:
                # Every map field has its own entry type (Function.MethodDefinitionsEntry vs
                # FunctionData.MethodDefinitionsEntry): the same map when keys and values agree.
                if not _same_map_entry(src.message_type, fd.message_type):
                    continue
            elif fd.message_type is not None and src.message_type is not fd.message_type:
                continue
            value = getattr(definition, fd.name)
            if fd.label == fd.LABEL_REPEATED:
                target = getattr(data, fd.name)
                if is_map and fd.message_type.fields_by_name["value"].message_type is not None:
                    for key, item in value.items():
                        target[key].CopyFrom(item)
                elif is_map:
                    target.update(value)
                else:
                    target.extend(value)
            elif fd.message_type is not None:
                if definition.HasField(fd.name):
                    getattr(data, fd.name).CopyFrom(value)
            else:
                setattr(data, fd.name, value)
        data.ranked_functions.append(api_pb2.FunctionData.RankedFunction(rank=0, function=definition))
        return data

    async def FunctionCreate(self, call: _Call) -> None:
        req: api_pb2.FunctionCreateRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            has_definition = req.HasField("function")
            if has_definition == req.HasField("function_data"):
                raise GRPCError(Status.INVALID_ARGUMENT, "exactly one of function and function_data must be set")
            if has_definition:
                definitions = [req.function]
            else:
                if not req.function_data.ranked_functions:
                    raise GRPCError(Status.INVALID_ARGUMENT, "function_data has no ranked_functions")
                definitions = [r.function for r in req.function_data.ranked_functions]
            for d in definitions:
                self._check_references(d)
                modal_rules.refuse_function(d)
            function_id = req.existing_function_id or new_id("fu")
            fn = self.state.functions.get(function_id)
            if req.existing_function_id and fn is None:
                raise _not_found(f"Function {function_id} not found")
            if has_definition:
                definition = api_pb2.Function()
                definition.CopyFrom(req.function)
                self._fill_web_urls(app, definition)
                data = self._function_data(definition)
                name, ftype, webhook = definition.function_name, definition.function_type, definition.webhook_config
                methods, schema = dict(definition.method_definitions), definition.function_schema
            else:
                definition = None
                data = api_pb2.FunctionData()
                data.CopyFrom(req.function_data)
                self._fill_web_urls(app, data)
                name, ftype, webhook = data.function_name, data.function_type, data.webhook_config
                methods, schema = dict(data.method_definitions), data.function_schema
            metadata = self._handle_metadata(app, function_id, name, ftype, webhook, methods, schema)
            self.state.functions[function_id] = FakeFunction(
                function_id, app.app_id, name, metadata, definition=definition, data=data if definition is None else None
            )
            resp = api_pb2.FunctionCreateResponse(function_id=function_id, handle_metadata=metadata, function_data=data)
            if definition is not None:
                resp.function.CopyFrom(definition)
        await call.send_message(resp)

    def _deployed_function(self, app_name: str, environment: str, tag: str) -> tuple[FakeApp, FakeFunction]:
        env = self._environment(environment)
        app = self.state.deployed_app(env, app_name)
        if app is None:
            raise _not_found(f"App '{app_name}' not found in environment '{env}'")
        fid = app.function_ids.get(tag)
        if fid is None:
            raise _not_found(f"Function '{tag}' not found in app '{app_name}'")
        return app, self.state.functions[fid]

    async def FunctionGet(self, call: _Call) -> None:
        req: api_pb2.FunctionGetRequest = await call.recv_message()
        with self.state.lock:
            _, fn = self._deployed_function(req.app_name, req.environment_name, req.object_tag)
            data = fn.data if fn.data is not None else self._function_data(fn.definition)  # type: ignore[arg-type]
            resp = api_pb2.FunctionGetResponse(function_id=fn.function_id, handle_metadata=fn.handle_metadata, function=data)
        await call.send_message(resp)

    async def FunctionGetById(self, call: _Call) -> None:
        # What `modal.Function.from_id(...)` hydrates from; `.info()` reads the definition it returns,
        # class service functions (`Cls.*`) included.
        req: api_pb2.FunctionGetByIdRequest = await call.recv_message()
        with self.state.lock:
            fn = self.state.functions.get(req.function_id)
            if fn is None or not fn.created:
                raise _not_found(f"Function {req.function_id} not found")
            data = fn.data if fn.data is not None else self._function_data(fn.definition)  # type: ignore[arg-type]
            resp = api_pb2.FunctionGetByIdResponse(function=data, handle_metadata=fn.handle_metadata)
        await call.send_message(resp)

    async def ClassCreate(self, call: _Call) -> None:
        req: api_pb2.ClassCreateRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)
            class_id = req.existing_class_id or new_id("cs")
            self.state.classes[class_id] = FakeClass(class_id, app.app_id)
        await call.send_message(api_pb2.ClassCreateResponse(class_id=class_id, handle_metadata=api_pb2.ClassHandleMetadata()))

    def _class_metadata(self, app: FakeApp, tag: str) -> api_pb2.ClassHandleMetadata:
        fid = app.function_ids.get(f"{tag}.*", "")
        metadata = api_pb2.ClassHandleMetadata(class_function_id=fid)
        if fid:
            metadata.class_function_metadata.CopyFrom(self.state.functions[fid].handle_metadata)
        return metadata

    async def ClassGet(self, call: _Call) -> None:
        req: api_pb2.ClassGetRequest = await call.recv_message()
        with self.state.lock:
            env = self._environment(req.environment_name)
            app = self.state.deployed_app(env, req.app_name)
            if app is None or req.object_tag not in app.class_ids:
                raise _not_found(f"Class '{req.object_tag}' not found in app '{req.app_name}'")
            resp = api_pb2.ClassGetResponse(
                class_id=app.class_ids[req.object_tag], handle_metadata=self._class_metadata(app, req.object_tag)
            )
        await call.send_message(resp)


# --------------------------------------------------------------------------------------------
# the server and its controller
# --------------------------------------------------------------------------------------------


class FakeModal:
    """Runs the fake control plane in a background thread; the test-facing API."""

    def __init__(
        self,
        token_id: str = "ak-fakeTokenId000000000000",
        token_secret: str = "as-fake-token-secret",
        environments: Iterable[str] = (DEFAULT_ENVIRONMENT,),
    ):
        self.token_id = token_id
        self.token_secret = token_secret
        self.state = State(environments)
        self.calls: list[RecordedCall] = []
        self.unimplemented: list[str] = []
        self.errors: list[str] = []
        self.image_build_failure: str = ""
        """When set, image builds fail with this message."""
        self._tokens = {token_id: token_secret}
        self._faults: dict[str, deque[_Fault]] = {}
        self._blob_expect: dict[str, tuple[str, str, int]] = {}
        self._block_key = random.randbytes(32)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._http: web.AppRunner | None = None
        self.port = 0
        self.http_port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> FakeModal:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-modal", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the fake Modal server did not start within 30s")
        if failure:
            raise failure[0]
        return self

    async def _start(self) -> None:
        self._server = Server([FakeModalServicer(self)])
        await self._server.start("127.0.0.1", 0)
        self.port = self._server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        app = web.Application(client_max_size=1024**3)
        app.router.add_put("/blob/{blob_id}", self._put_blob)
        app.router.add_get("/blob/{blob_id}", self._get_blob)
        app.router.add_put("/block/{sha}", self._put_block)
        self._http = web.AppRunner(app, access_log=None)
        await self._http.setup()
        site = web.TCPSite(self._http, "127.0.0.1", 0)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._http is not None:
            await self._http.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    def __enter__(self) -> FakeModal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP side: presigned blob URLs and v2 block uploads --------------------------------------

    async def _put_blob(self, request: web.Request) -> web.Response:
        blob_id = request.match_info["blob_id"]
        expect = self._blob_expect.get(blob_id)
        if expect is None:
            return web.Response(status=404, text="NoSuchUpload")
        body = await request.read()
        md5 = hashlib.md5(body)
        sent_md5 = request.headers.get("Content-MD5")
        if sent_md5 and sent_md5 != base64.b64encode(md5.digest()).decode():
            return web.Response(status=400, text="The Content-MD5 you specified did not match what we received.")
        if len(body) != expect[2]:
            return web.Response(status=400, text="content length does not match BlobCreate")
        with self.state.lock:
            self.state.blobs[blob_id] = body
        return web.Response(status=200, headers={"ETag": f'"{md5.hexdigest()}"'})

    async def _get_blob(self, request: web.Request) -> web.Response:
        with self.state.lock:
            body = self.state.blobs.get(request.match_info["blob_id"])
        if body is None:
            return web.Response(status=404, text="NoSuchKey")
        return web.Response(status=200, body=body)

    async def _put_block(self, request: web.Request) -> web.Response:
        digest = bytes.fromhex(request.match_info["sha"])
        body = await request.read()
        if hashlib.sha256(body).digest() != digest:
            return web.Response(status=400, text="block content does not match its sha256")
        with self.state.lock:
            self.state.blocks[digest] = body
        return web.Response(status=200, body=hmac.new(self._block_key, digest, hashlib.sha256).digest())

    # -- auth, recording, faults ------------------------------------------------------------------

    def add_token(self, token_id: str, token_secret: str) -> None:
        self._tokens[token_id] = token_secret

    def _authenticate(self, metadata: dict[str, str]) -> None:
        token_id = metadata.get("x-modal-token-id")
        token_secret = metadata.get("x-modal-token-secret")
        if not token_id or not token_secret:
            raise GRPCError(Status.UNAUTHENTICATED, "Token missing. Could not authenticate client.")
        expected = self._tokens.get(token_id)
        # Never echo the token back: real servers do not, and tests assert it stays out of errors.
        if expected is None or not hmac.compare_digest(expected, token_secret):
            raise GRPCError(Status.UNAUTHENTICATED, "Invalid token id or token secret.")

    def _record(self, call: RecordedCall) -> None:
        with self.state.lock:
            self.calls.append(call)

    def inject(self, method: str, status: Status, *, times: int = 1, message: str | None = None) -> None:
        """Answer the next `times` calls of `method` with `status` (after recording and auth)."""
        if not hasattr(ModalClientBase, method):
            raise ValueError(f"no such Modal RPC: {method}")
        with self.state.lock:
            self._faults.setdefault(method, deque()).append(
                _Fault(status, message or f"injected {status.name} for {method}", times)
            )

    def _maybe_fault(self, method: str) -> None:
        with self.state.lock:
            queue = self._faults.get(method)
            if not queue:
                return
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
        raise GRPCError(fault.status, fault.message)

    def clear_faults(self) -> None:
        with self.state.lock:
            self._faults.clear()

    def reset_calls(self) -> None:
        with self.state.lock:
            self.calls.clear()

    def methods(self) -> list[str]:
        """Names of the RPCs called so far, in order."""
        with self.state.lock:
            return [c.method for c in self.calls]

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self.state.lock:
            return [c for c in self.calls if c.method == method]
