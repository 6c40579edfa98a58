"""A Memorystore for Redis instance and the private network Cloud Run reaches it over.

Memorystore has no public endpoint: it lives on a VPC. The stack gets its own network and a small
subnet; services with `redis: true` use Cloud Run's direct VPC egress into that subnet (no
Serverless VPC Access connector to run and pay for), sending only private-range traffic through it.
AUTH is on: the connection URL carries the AUTH string, so it reaches services only through Secret
Manager, never as plain env.
"""

from __future__ import annotations

import hashlib
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from components.config import Redis
from components.secrets import ManagedSecret


class RedisArgs(TypedDict):
    project: str
    region: str
    name: str
    """Physical instance name (also names the network and subnet)."""
    spec: Redis
    protect: bool
    labels: dict[str, str]
    depends_on: list[pulumi.Resource]


class RedisQueue(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    network: pulumi.Output[str]
    subnetwork: pulumi.Output[str]
    url_secret: ManagedSecret
    """Secret Manager secret holding redis://:<auth>@host:port/0."""

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Redis", name, None, opts)
        spec = args["spec"]
        network = gcp.compute.Network(
            f"{name}-network",
            project=args["project"],
            name=args["name"],
            auto_create_subnetworks=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args["depends_on"]),
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args["project"],
            name=args["name"],
            region=args["region"],
            network=network.id,
            ip_cidr_range=spec.subnet_cidr,
            private_ip_google_access=True,
            opts=pulumi.ResourceOptions(parent=network),
        )
        instance = gcp.redis.Instance(
            f"{name}-instance",
            project=args["project"],
            name=args["name"],
            region=args["region"],
            tier="BASIC" if spec.tier == "basic" else "STANDARD_HA",
            memory_size_gb=spec.memory_size_gb,
            redis_version=spec.version,
            authorized_network=network.id,
            connect_mode="DIRECT_PEERING",
            auth_enabled=True,
            labels=args["labels"],
            opts=pulumi.ResourceOptions(
                parent=self, protect=args["protect"], additional_secret_outputs=["authString"]
            ),
        )
        url = pulumi.Output.all(instance.auth_string, instance.host, instance.port).apply(
            lambda v: f"redis://:{v[0]}@{v[1]}:{int(v[2])}/0"
        )
        # A replaced instance has a new AUTH string: key the secret's version on the instance id so
        # the write-only value is written again exactly then.
        version = instance.id.apply(lambda i: 1 + int(hashlib.sha256(str(i).encode()).hexdigest()[:7], 16))
        self.url_secret = ManagedSecret(
            f"{name}-url",
            {
                "project": args["project"],
                "secret_id": f"{args['name']}-url",
                "value": pulumi.Output.secret(url),
                "version": version,  # type: ignore[typeddict-item]
                "protect": args["protect"],
                "labels": args["labels"],
                "depends_on": args["depends_on"],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.instance = instance
        self.host = instance.host
        self.port = instance.port
        self.network = network.id
        self.subnetwork = subnet.id
        self.register_outputs({"host": self.host, "port": self.port, "network": self.network})
