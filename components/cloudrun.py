"""A Cloud Run v2 service with its own service account and least-privilege access.

Each service runs as a dedicated service account that can read exactly the secrets named in its
`secretEnv` (pinned to the version the stack wrote), the buckets listed in its `buckets:` and, if
asked, the stack's Firestore database. Nobody can invoke it unless `public: true`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from components.config import Probe, Service
from components.secrets import ManagedSecret

_INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internalAndCloudLoadBalancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}


class CloudRunServiceArgs(TypedDict):
    project: str
    region: str
    service_name: str
    """Physical Cloud Run service name."""
    account_id: str
    """Physical service account id (6-30 characters)."""
    spec: Service
    image: pulumi.Input[str]
    """Image reference pinned by digest."""
    env: Mapping[str, pulumi.Input[str]]
    """Plain environment: the config's env plus values the platform wires in (bucket names...)."""
    secrets: Mapping[str, ManagedSecret]
    """Environment variable -> the secret it reads."""
    buckets: Mapping[str, tuple[pulumi.Input[str], str]]
    """Bucket key -> (bucket name, 'read' | 'readwrite')."""
    firestore_database: pulumi.Input[str] | None
    volumes: Mapping[str, tuple[pulumi.Input[str], bool]]
    """Mount path -> (GCS bucket name, read only), mounted with Cloud Storage FUSE."""
    vpc: tuple[pulumi.Input[str], pulumi.Input[str]] | None
    """(network, subnetwork) for direct VPC egress to private ranges (Memorystore), or None."""
    deletion_protection: bool
    labels: dict[str, str]
    depends_on: Sequence[pulumi.Resource]


class CloudRunService(pulumi.ComponentResource):
    url: pulumi.Output[str]
    service_account_email: pulumi.Output[str]

    def __init__(self, name: str, args: CloudRunServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Service", name, None, opts)
        spec = args["spec"]

        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            project=args["project"],
            account_id=args["account_id"],
            display_name=f"modelstack service {args['service_name']}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args["depends_on"])),
        )
        member = account.email.apply(lambda email: f"serviceAccount:{email}")

        grants: list[pulumi.Resource] = []
        for var, secret in args["secrets"].items():
            grants.append(secret.grant_access(f"{name}-reads-{var.lower()}", member, parent=account))
        for key, (bucket_name, access) in args["buckets"].items():
            grants.append(
                gcp.storage.BucketIAMMember(
                    f"{name}-bucket-{key}",
                    bucket=bucket_name,
                    role="roles/storage.objectAdmin" if access == "readwrite" else "roles/storage.objectViewer",
                    member=member,
                    opts=pulumi.ResourceOptions(parent=account),
                )
            )
        for index, (_, (bucket_name, read_only)) in enumerate(sorted(args["volumes"].items())):
            grants.append(
                gcp.storage.BucketIAMMember(
                    f"{name}-volume-{index}",
                    bucket=bucket_name,
                    role="roles/storage.objectViewer" if read_only else "roles/storage.objectAdmin",
                    member=member,
                    opts=pulumi.ResourceOptions(parent=account),
                )
            )
        if any(access == "readwrite" for _, access in args["buckets"].values()):
            # Signed URLs for objects it writes: on Cloud Run there is no key file, so the service
            # signs through IAM signBlob as itself.
            grants.append(
                gcp.serviceaccount.IAMMember(
                    f"{name}-signs-urls",
                    service_account_id=account.name,
                    role="roles/iam.serviceAccountTokenCreator",
                    member=member,
                    opts=pulumi.ResourceOptions(parent=account),
                )
            )
        if args["firestore_database"] is not None:
            # Firestore IAM is project-level; the condition narrows it to this stack's database.
            grants.append(
                gcp.projects.IAMMember(
                    f"{name}-firestore",
                    project=args["project"],
                    role="roles/datastore.user",
                    member=member,
                    condition=gcp.projects.IAMMemberConditionArgs(
                        title="modelstack database only",
                        expression=pulumi.Output.concat(
                            'resource.name.startsWith("projects/', args["project"],
                            '/databases/', args["firestore_database"], '")',
                        ),
                    ),
                    opts=pulumi.ResourceOptions(parent=account),
                )
            )

        envs = [gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v) for k, v in sorted(args["env"].items())]
        for var, secret in sorted(args["secrets"].items()):
            envs.append(
                gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                    name=var,
                    value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                        secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                            secret=secret.secret_id,
                            version=secret.version,
                        )
                    ),
                )
            )

        volumes = [
            gcp.cloudrunv2.ServiceTemplateVolumeArgs(
                name=f"volume-{index}",
                gcs=gcp.cloudrunv2.ServiceTemplateVolumeGcsArgs(bucket=bucket_name, read_only=read_only),
            )
            for index, (_, (bucket_name, read_only)) in enumerate(sorted(args["volumes"].items()))
        ]
        mounts = [
            gcp.cloudrunv2.ServiceTemplateContainerVolumeMountArgs(name=f"volume-{index}", mount_path=path)
            for index, path in enumerate(sorted(args["volumes"]))
        ]
        vpc_access = None
        if args["vpc"] is not None:
            network, subnetwork = args["vpc"]
            vpc_access = gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(
                network_interfaces=[
                    gcp.cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArgs(network=network, subnetwork=subnetwork)
                ],
                # Only private ranges (Memorystore) go through the VPC; the internet stays direct.
                egress="PRIVATE_RANGES_ONLY",
            )

        service = gcp.cloudrunv2.Service(
            f"{name}-service",
            name=args["service_name"],
            project=args["project"],
            location=args["region"],
            ingress=_INGRESS[spec.ingress],
            deletion_protection=args["deletion_protection"],
            labels=args["labels"],
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=account.email,
                timeout=f"{spec.timeout_seconds}s",
                # Cookie-based: a client (a WebSocket that reconnects) returns to the same instance.
                session_affinity=spec.session_affinity or None,
                max_instance_request_concurrency=spec.concurrency,
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=spec.min_instances,
                    max_instance_count=spec.max_instances,
                ),
                labels=args["labels"],
                # Cloud Storage FUSE volumes need the second-generation execution environment.
                execution_environment="EXECUTION_ENVIRONMENT_GEN2" if volumes else None,
                volumes=volumes,
                vpc_access=vpc_access,
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        image=args["image"],
                        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=spec.port),
                        envs=envs,
                        volume_mounts=mounts,
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits={"cpu": spec.cpu, "memory": spec.memory},
                            # Instances at min scale still answer fast when CPU is always on.
                            cpu_idle=spec.min_instances == 0 and not spec.always_on_cpu,
                            startup_cpu_boost=True,
                        ),
                        startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                            **_probe(spec.probes.startup),
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                                path=spec.probes.startup.path, port=spec.port
                            ),
                        ),
                        liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                            **_probe(spec.probes.liveness),
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                                path=spec.probes.liveness.path, port=spec.port
                            ),
                        ),
                    )
                ],
            ),
            # The service account must be able to read its secrets before the first revision starts.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args["depends_on"], *grants]),
        )
        if spec.public:
            gcp.cloudrunv2.ServiceIamMember(
                f"{name}-public",
                project=args["project"],
                location=args["region"],
                name=service.name,
                role="roles/run.invoker",
                member="allUsers",
                opts=pulumi.ResourceOptions(parent=service),
            )
        self.service = service
        self.account = account
        self.url = service.uri
        self.service_account_email = account.email
        self.register_outputs({"url": self.url, "serviceAccount": self.service_account_email})


def _probe(probe: Probe) -> dict[str, int]:
    return {
        "initial_delay_seconds": probe.initial_delay_seconds,
        "period_seconds": probe.period_seconds,
        "timeout_seconds": probe.timeout_seconds,
        "failure_threshold": probe.failure_threshold,
    }
