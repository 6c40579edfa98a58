"""`RunpodNetworkVolume`: persistent network storage in one data center.

Name and size change in place; the size may only grow, so asking for less than before is a
`check` error (offline, before anything is touched) and, if the volume grew behind Pulumi's back,
an `update` error that names both sizes. Data center and storage type are fixed at creation:
changing them replaces the volume, and with it its data.

Runpod does not require volume names to be unique, but `create` finds an interrupted earlier
attempt by name, so give each volume its own name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from components.limits import runpod as runpod_limits
from components.providers.http import ApiError, create_once, retry_while_in_use
from components.providers.inputs import Field, integer, one_of, optional, text
from components.providers.runpod.base import RunpodProvider, has_unknown, in_use
from components.providers.runpod.client import VOLUMES


class VolumeProvider(RunpodProvider):
    kind = "NetworkVolume"
    fields = (
        Field("name", text(max_len=200)),
        Field("sizeGb", integer(runpod_limits.NETWORK_VOLUME_SIZE)),
        Field("dataCenterId", text(), replace=True),
        Field("storageType", optional(one_of("STANDARD", "HIGH_PERFORMANCE")), default=None, replace=True),
    )
    outputs = ("volumeId",)

    def validate(self, olds: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        before, after = olds.get("sizeGb"), inputs.get("sizeGb")
        if before is None or has_unknown(before) or has_unknown(after):
            return []
        if after < integer()(before):
            return [("sizeGb", f"can only grow: the volume has {integer()(before)} GB and cannot shrink to "
                               f"{after} GB (Runpod cannot reduce network volume storage)")]
        return []

    def differs(self, f: Field, old: Any, new: Any) -> bool:  # type: ignore[override]
        # No storage type asked for means "the data center's default", whatever Runpod chose.
        if f.key == "storageType" and new is None:
            return False
        return super().differs(f, old, new)

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = self.label(props)
        with self.client(props) as api:
            volume = api.find_by_name(VOLUMES, props["name"], resource=label, operation="create")
            if volume is not None:
                mismatch = self._fixed_mismatch(volume, props)
                if mismatch:
                    raise ApiError(label, "create", f"a network volume named {props['name']!r} already exists "
                                   f"with a different {mismatch}; delete it or choose another name")
                if volume["size"] != props["sizeGb"]:
                    volume = self._resize(api, volume, props, "create")
            else:
                volume = create_once(
                    lambda: api.create(VOLUMES, self._create_body(props), resource=label),
                    lambda: api.find_by_name(VOLUMES, props["name"], resource=label, operation="create"),
                    policy=api.policy,
                    resource=label,
                )
        return CreateResult(volume["id"], self._outputs(volume))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client(props) as api:
            volume = api.get(VOLUMES, id_, resource=self.label(props, id_))
        if volume is None:
            return ReadResult("", {})
        return ReadResult(id_, self._outputs(volume))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        label = self.label(news, id_)
        body: dict[str, Any] = {}
        if news["name"] != olds.get("name"):
            body["name"] = news["name"]
        if news["sizeGb"] != olds.get("sizeGb"):
            if olds.get("sizeGb") is not None and news["sizeGb"] < olds["sizeGb"]:
                raise ApiError(label, "update", f"the volume now has {olds['sizeGb']} GB (grown outside Pulumi?) "
                               f"and cannot shrink to {news['sizeGb']} GB; raise sizeGb to at least that")
            body["size"] = news["sizeGb"]
        with self.client(news) as api:
            if body:
                volume = api.patch(VOLUMES, id_, body, resource=label)
            else:
                volume = api.get(VOLUMES, id_, resource=label, operation="update")
                if volume is None:
                    raise ApiError(label, "update", "the volume no longer exists; run `pulumi refresh`")
        return UpdateResult(self._outputs(volume))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        label = self.label(props, id_)
        with self.client(props) as api:
            # Deleting the endpoint that mounted it releases the volume a little later.
            retry_while_in_use(lambda: api.delete(VOLUMES, id_, resource=label), in_use, policy=api.policy)

    # ------------------------------------------------------------------ helpers

    def _resize(self, api: Any, volume: dict[str, Any], props: Mapping[str, Any], operation: str) -> dict[str, Any]:
        label = self.label(props, volume["id"])
        if props["sizeGb"] < volume["size"]:
            raise ApiError(label, operation, f"an existing volume of that name has {volume['size']} GB and "
                           f"cannot shrink to {props['sizeGb']} GB")
        return api.patch(VOLUMES, volume["id"], {"size": props["sizeGb"]}, resource=label, operation=operation)

    @staticmethod
    def _fixed_mismatch(volume: Mapping[str, Any], props: Mapping[str, Any]) -> str | None:
        if volume.get("dataCenter") != props["dataCenterId"]:
            return "data center"
        if props.get("storageType") is not None and volume.get("type") != props["storageType"]:
            return "storage type"
        return None

    @staticmethod
    def _create_body(props: Mapping[str, Any]) -> dict[str, Any]:
        body = {"name": props["name"], "size": props["sizeGb"], "dataCenter": props["dataCenterId"]}
        if props.get("storageType") is not None:
            body["type"] = props["storageType"]
        return body

    @staticmethod
    def _outputs(volume: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": volume["name"],
            "sizeGb": volume["size"],
            "dataCenterId": volume["dataCenter"],
            "storageType": volume.get("type"),
            "volumeId": volume["id"],
        }


class RunpodNetworkVolumeArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    size_gb: pulumi.Input[int]
    """10 to 4096 GB; can only grow."""
    data_center_id: pulumi.Input[str]
    """Runpod data center (e.g. EU-RO-1); endpoints that mount the volume must run there."""
    storage_type: pulumi.Input[str]
    """STANDARD or HIGH_PERFORMANCE; the data center's default when unset."""


class RunpodNetworkVolume(pulumi.dynamic.Resource, module="runpod", name="NetworkVolume"):
    volume_id: pulumi.Output[str]

    def __init__(self, name: str, args: RunpodNetworkVolumeArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "sizeGb": args["size_gb"],
            "dataCenterId": args["data_center_id"],
            "storageType": args.get("storage_type"),
            "volumeId": None,
        }
        super().__init__(VolumeProvider(), name, props, opts)
        self.volume_id = self.volumeId  # type: ignore[attr-defined]
