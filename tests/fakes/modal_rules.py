"""What the fake Modal control plane refuses as the real one does, and the lifecycle RPCs a deployed
app goes through after its deploy: rollback (the dashboard's and `modal app rollback`), its history,
and its containers (`modal container stop`, and `strategy="recreate"` deploys, which list and stop
the containers of the previous version).

Kept apart from `modal_server.py`, which calls in here from FunctionCreate (`refuse_function`: only
it carries the whole definition; FunctionPrecreate sends name, type and webhook), AppPublish
(`refuse_labels`, `after_publish`) and AppStop, and mixes `LifecycleRpcs` into its servicer.

The modal client passes GPU strings, timeouts and cron strings to the server without checking them
(modal-labs/modal-client#2846: "The server may then reject it"), so refusing them is the server's
part. The rules and where the messages come from:

- GPU type: the values modal.com/docs/guide/gpu lists; an unknown one is INVALID_ARGUMENT
  "<type> is not a valid GPU type" (the server's message, quoted in modal-client#2846).
- GPU count: up to 8 per container, A10/A10G up to 4 (same page).
- timeout and startup timeout: at most 24 hours (modal.com/docs/guide/timeouts).
  ASSUMPTION: the exact wording and status (INVALID_ARGUMENT) of the timeout, cron and label
  refusals are not published; the messages name the function and the value as the others do.
- cron: five fields (minute hour day-of-month month day-of-week), numbers in range, `*`, `a-b`,
  `/step`, lists and month/day names.
- web URL labels: a label (`label=` on a web decorator) is one URL in the workspace environment;
  two endpoints of one app, or an endpoint of another deployed app, cannot share it.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grpclib import GRPCError, Status
from modal_proto import api_pb2

if TYPE_CHECKING:
    from tests.fakes.modal_server import FakeApp, FakeFunction, State

MAX_SECONDS = 24 * 3600
GPU_TYPES = frozenset(
    {"T4", "L4", "A10", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "RTX-PRO-6000", "H100", "H100!",
     "H200", "B200", "B200+"}
)  # fmt: skip
MAX_GPUS = 8
MAX_GPUS_BY_TYPE = {"A10": 4, "A10G": 4}

_MONTHS = {m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
# (name, lowest, highest, names)
_CRON_FIELDS = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)  # fmt: skip
_CRON_ITEM = re.compile(r"^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?$")


def _invalid(message: str) -> GRPCError:
    return GRPCError(Status.INVALID_ARGUMENT, message)


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------


def cron_problem(expression: str) -> str | None:
    """Why Modal would refuse this cron string, or None."""
    fields = expression.split()
    if len(fields) != 5:
        return f"a cron expression has 5 fields (minute hour day month weekday), not {len(fields)}"
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _CRON_ITEM.match(item)
            if not match:
                return f"{name} field {text!r} is not valid"
            span, step = match.groups()
            if step is not None and int(step) == 0:
                return f"{name} field {text!r} has a step of 0"
            if span == "*":
                continue
            bounds = []
            for part in span.split("-"):
                value = names.get(part.upper()) if not part.isdigit() else int(part)
                if value is None or not low <= value <= high:
                    return f"{name} field {text!r}: {part!r} is not between {low} and {high}"
                bounds.append(value)
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                return f"{name} field {text!r}: the range runs backwards"
    return None


def refuse_function(definition: api_pb2.Function) -> None:
    """FunctionCreate / FunctionPrecreate: what the server refuses in one function definition."""
    name = definition.function_name
    gpu = definition.resources.gpu_config
    if gpu.gpu_type:
        if gpu.gpu_type not in GPU_TYPES:
            raise _invalid(f"{gpu.gpu_type} is not a valid GPU type")
        cap = MAX_GPUS_BY_TYPE.get(gpu.gpu_type, MAX_GPUS)
        if not 1 <= gpu.count <= cap:
            raise _invalid(f"{gpu.gpu_type} supports 1 to {cap} GPUs per container, not {gpu.count} (function {name})")
    for field, what in (("timeout_secs", "timeout"), ("startup_timeout_secs", "startup timeout")):
        seconds = getattr(definition, field)
        if seconds > MAX_SECONDS:
            raise _invalid(f"Function {name}: {what} must be at most 24 hours ({MAX_SECONDS}s), not {seconds}s")
    if definition.schedule.WhichOneof("schedule_oneof") == "cron":
        problem = cron_problem(definition.schedule.cron.cron_string)
        if problem:
            raise _invalid(f"Function {name}: invalid cron schedule {definition.schedule.cron.cron_string!r}: {problem}")


def _labels(state: State, function_ids: dict[str, str]) -> dict[str, str]:
    """label (web URL) -> the function tag (or Class.method) that requested it, of one app."""
    found: dict[str, str] = {}
    for tag, fid in sorted(function_ids.items()):
        fn = state.functions[fid]
        body = fn.definition if fn.definition is not None else fn.data
        if body is None:
            continue
        endpoints = [(tag, body.webhook_config)]
        endpoints += [(f"{tag.removesuffix('.*')}.{m}", d.webhook_config) for m, d in body.method_definitions.items()]
        for where, config in endpoints:
            if config.requested_suffix:
                if config.requested_suffix in found:
                    raise GRPCError(
                        Status.ALREADY_EXISTS,
                        f"Web endpoint label '{config.requested_suffix}' is used by both {found[config.requested_suffix]} "
                        f"and {where}",
                    )
                found[config.requested_suffix] = where
    return found


def refuse_labels(state: State, app: FakeApp, function_ids: dict[str, str]) -> None:
    """AppPublish: labels are unique in an environment, across the app and every other deployed app."""
    mine = _labels(state, function_ids)
    for other_id in state.deployed.values():
        other = state.apps[other_id]
        if other.app_id == app.app_id or other.environment != app.environment:
            continue
        taken = set(_labels(state, other.function_ids)) & set(mine)
        if taken:
            label = sorted(taken)[0]
            raise GRPCError(Status.ALREADY_EXISTS, f"Web endpoint label '{label}' is already in use by app '{other.name}'")


# --------------------------------------------------------------------------------------------
# what a deployment leaves behind: definitions to roll back to, warm containers
# --------------------------------------------------------------------------------------------


@dataclass
class FakeTask:
    """One container of a deployed function."""

    task_id: str
    app_id: str
    function_id: str
    version: int
    enqueued_at: float
    finished_at: float = 0.0


@dataclass
class Snapshot:
    """A deployed version as it was published: what a rollback restores."""

    functions: dict[str, FakeFunction]
    function_ids: dict[str, str]
    class_ids: dict[str, str]
    rollback_version: int = 0


def after_publish(state: State, app: FakeApp, deployed_at: float, new_id: Any) -> None:
    """AppPublish made a new version: keep its definitions, start each function's min_containers."""
    if not deployed_at:
        return
    deployment = app.deployments[-1]
    state.snapshots[(app.app_id, deployment.version)] = Snapshot(
        {fid: copy.deepcopy(state.functions[fid]) for fid in deployment.function_ids.values()},
        dict(deployment.function_ids),
        dict(deployment.class_ids),
    )
    _start_warm(state, app, deployment.version, deployed_at, new_id)


def _start_warm(state: State, app: FakeApp, version: int, at: float, new_id: Any) -> None:
    # Modal keeps `min_containers` running per function; they count as enqueued when the version
    # went live, so a `recreate` deploy (which stops those enqueued before it) leaves them alone.
    for fid in app.function_ids.values():
        fn = state.functions[fid]
        body = fn.definition if fn.definition is not None else fn.data
        wanted = body.autoscaler_settings.min_containers if body is not None else 0
        for _ in range(wanted):
            task = FakeTask(new_id("ta"), app.app_id, fid, version, at)
            state.tasks[task.task_id] = task


def running(state: State, app_id: str = "") -> list[FakeTask]:
    return [t for t in state.tasks.values() if not t.finished_at and (not app_id or t.app_id == app_id)]


def stop_app_containers(state: State, app_id: str) -> None:
    """AppStop: a stopped app runs nothing."""
    for task in running(state, app_id):
        task.finished_at = time.time()


class LifecycleRpcs:
    """RPCs mixed into the fake's servicer; they expect its `state`, `fake` and helpers."""

    state: State

    async def AppRollback(self, call: Any) -> None:
        req: api_pb2.AppRollbackRequest = await call.recv_message()
        from tests.fakes.modal_server import WORKSPACE, Deployment, new_id

        with self.state.lock:
            app = self._app(req.app_id)  # type: ignore[attr-defined]
            if app.state != api_pb2.APP_STATE_DEPLOYED:
                raise GRPCError(Status.FAILED_PRECONDITION, f"App {app.app_id} is not deployed")
            target = req.version if req.version > 0 else app.version - 1  # -1: the version before
            snapshot = self.state.snapshots.get((app.app_id, target))
            if target >= app.version or snapshot is None:
                raise GRPCError(Status.NOT_FOUND, f"App {app.name} has no version v{target} to roll back to")
            for fid, fn in snapshot.functions.items():
                self.state.functions[fid] = copy.deepcopy(fn)
            previous = next(d for d in app.deployments if d.version == target)
            deployed_at = time.time()
            app.deployments.append(
                Deployment(
                    version=app.version + 1, tag=previous.tag, deployed_at=deployed_at,
                    client_version=previous.client_version, commit_info=previous.commit_info,
                    function_ids=dict(snapshot.function_ids), class_ids=dict(snapshot.class_ids), digest=previous.digest,
                )
            )  # fmt: skip
            app.function_ids, app.class_ids = dict(snapshot.function_ids), dict(snapshot.class_ids)
            self.state.snapshots[(app.app_id, app.version)] = Snapshot(
                copy.deepcopy(snapshot.functions), dict(snapshot.function_ids), dict(snapshot.class_ids), target
            )
            _start_warm(self.state, app, app.version, deployed_at, new_id)
            url = f"https://modal.com/apps/{WORKSPACE}/{app.environment}/{app.name}"
        await call.send_message(api_pb2.AppRollbackResponse(url=url, deployed_at=deployed_at))

    async def AppDeploymentHistory(self, call: Any) -> None:
        req: api_pb2.AppDeploymentHistoryRequest = await call.recv_message()
        with self.state.lock:
            app = self._app(req.app_id)  # type: ignore[attr-defined]
            resp = api_pb2.AppDeploymentHistoryResponse(production_app_version=app.version)
            for d in reversed(app.deployments):
                snapshot = self.state.snapshots.get((app.app_id, d.version))
                resp.app_deployment_histories.append(
                    api_pb2.AppDeploymentHistory(
                        app_id=app.app_id, version=d.version, client_version=d.client_version,
                        deployed_at=d.deployed_at, deployed_by="fake-user", tag=d.tag, commit_info=d.commit_info,
                        rollback_version=snapshot.rollback_version if snapshot else 0,
                        rollback_allowed=d.version < app.version,
                    )
                )  # fmt: skip
        await call.send_message(resp)

    async def TaskList(self, call: Any) -> None:
        req: api_pb2.TaskListRequest = await call.recv_message()
        with self.state.lock:
            tasks = [
                api_pb2.TaskStats(
                    task_id=t.task_id, app_id=t.app_id, app_description=self.state.apps[t.app_id].description,
                    started_at=t.enqueued_at, enqueued_at=t.enqueued_at,
                )
                for t in running(self.state, req.app_id)
                if not req.environment_name or self.state.apps[t.app_id].environment == req.environment_name
            ]  # fmt: skip
        await call.send_message(api_pb2.TaskListResponse(tasks=tasks))

    def _task(self, task_id: str) -> FakeTask:
        task = self.state.tasks.get(task_id)
        if task is None:
            raise GRPCError(Status.NOT_FOUND, f"Container {task_id} not found")
        return task

    async def TaskGetInfo(self, call: Any) -> None:
        req: api_pb2.TaskGetInfoRequest = await call.recv_message()
        with self.state.lock:
            task = self._task(req.task_id)
            info = api_pb2.TaskInfo(
                id=task.task_id, started_at=task.enqueued_at, enqueued_at=task.enqueued_at, finished_at=task.finished_at
            )
            resp = api_pb2.TaskGetInfoResponse(app_id=task.app_id, info=info)
        await call.send_message(resp)

    async def ContainerStop(self, call: Any) -> None:
        req: api_pb2.ContainerStopRequest = await call.recv_message()
        with self.state.lock:
            task = self._task(req.task_id)
            # Graceful or not, no input ever runs in the fake: the container is gone at once.
            task.finished_at = task.finished_at or time.time()
        await call.send_message(api_pb2.ContainerStopResponse())
