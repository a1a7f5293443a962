"""The local ECS: runs the tasks of the Fargate services moto holds, on the
local Docker Engine, as ECS's data plane would in AWS.

moto stands in for ECS's API but runs nothing. This program reads moto's
services every second and keeps each one's desired count of tasks running:

- Each task is recorded in moto's ECS API as ECS records it (through the
  private /moto-api/isokit/ecs/ endpoints that scripts/moto-server.py adds):
  group `service:<name>`, startedBy the deployment, launch type FARGATE, the
  awsvpc attachment with its subnet and private IPv4 address, lastStatus
  PROVISIONING -> PENDING -> RUNNING -> STOPPED, health status, timestamps,
  stop code, stopped reason, and each container's exit code and reason.
- The task runs as its task definition says: image, command, environment,
  user, read-only root filesystem, its volumes as writable in-memory
  folders, the container health check, the task's CPU and memory as limits,
  the capabilities the definition keeps, and no way to gain privileges.
- It runs in the VPC the service names, in miniature: one internal Docker
  network per subnet, whose bridge has no IPv4 address (so neither the host
  nor anything beyond the bridge is reachable), with a TLS stand-in for each
  interface endpoint moto created in that VPC, answering under the
  endpoint's private DNS names, and one for the S3 gateway endpoint when the
  subnet's route table has it. Containers resolve names through the engine's
  DNS with 127.0.0.1 as the only upstream, so no lookup leaves either.
  The stand-ins' certificates come from a CA this program makes when it
  starts; each task gets that CA as ISOKIT_CA_PEM, the one variable the local
  ECS adds to a task's environment: in AWS the endpoints' certificates chain
  to public roots the task already trusts, and here the task must be told of
  the CA its endpoints' certificates chain to, or its TLS checks would fail
  for a reason AWS would not have.
- The image is pulled through the local ECR only when the VPC has what a
  pull needs in AWS (the ecr.api and ecr.dkr interface endpoints, the S3
  gateway endpoint on the subnet's route table); otherwise, and when the
  image is not in ECR, the task stops with the reason ECS gives. awslogs
  without a logs endpoint stops the task as ECS does too.
- Container output goes to moto's CloudWatch Logs as the awslogs driver
  writes it: stream `<prefix>/<container>/<task id>`, one event per line.
- A task whose essential container exits, or whose container fails its
  health check, stops with ECS's reason, and the service starts another after
  a short back-off; service events are written in ECS's words.
- A service deleted or scaled to 0 (or its stack deleted) has its tasks
  stopped; networks no task needs any more are removed; on SIGTERM
  everything this program started is stopped and removed.

Everything it creates carries the label dev.isokit.local-ecs.
scripts/local-aws starts it after moto and stops it first.
"""

import argparse
import base64
import datetime
import ipaddress
import json
import logging
import signal
import sys
import threading
import time
import uuid

import boto3
import docker
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("local-ecs")

# Every container and network the local ECS creates carries this label: a
# task's containers with the task ID as value, a network and its stand-ins
# with the network's name.
LABEL = "dev.isokit.local-ecs"
# What a labelled object is: "task", "standin" or "network".
ROLE_LABEL = "dev.isokit.local-ecs.role"
# A task container's task ARN and cluster, to record it stopped after a crash.
TASK_ARN_LABEL = "dev.isokit.local-ecs.task-arn"
CLUSTER_LABEL = "dev.isokit.local-ecs.cluster"

POLL_SECONDS = 1.0
# How long a stand-in may take to start listening.
STANDIN_START_SECONDS = 20
# In AWS a pull through a missing endpoint fails after its retries time out,
# minutes later; here the task stops after this long, so that the PENDING
# state is seen without making anyone wait.
FAILED_START_SECONDS = 3
# ECS's default stopTimeout for Fargate: SIGTERM, then SIGKILL this much later.
DEFAULT_STOP_TIMEOUT = 30
# Between two task starts of a service whose tasks keep failing: grows with
# each failure in a row, up to the last value (ECS backs off too, longer).
RESTART_BACKOFF_SECONDS = (2, 4, 8, 15)
# A task counts towards its deployment's completion once it has run this long
# (and passed its health check, when it has one): a task that exits at once
# must not make a deployment read COMPLETED.
STEADY_SECONDS = 5
# A network no task has used for this long, and no service still wants, goes.
NETWORK_IDLE_SECONDS = 5
# Docker gives each network address range a gateway address; the networks
# made here take this prefix length out of the subnet at most.
SLICE_PREFIX = 24

# The capabilities a container holds by default on Docker, which is what
# ECS's LinuxParameters.Capabilities add to and drop from (the list isokit's
# rehearsal spells out too, so that a wider engine default cannot loosen it).
DOCKER_DEFAULT_CAPABILITIES = (
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
)

# ---------------------------------------------------------------------------
# What ECS writes, in its words.
#
# Service events: "Service event messages", Amazon ECS Developer Guide,
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages.html
# and the DescribeServices example of the AWS CLI reference,
# https://docs.aws.amazon.com/cli/latest/reference/ecs/describe-services.html
# ("(service my-http-service) has reached a steady state.").
EVENT_STARTED = "(service {service}) has started 1 tasks: (task {task})."  # written by moto-server.py
EVENT_STOPPED = "(service {service}) has stopped 1 running tasks: (task {task})."
EVENT_UNHEALTHY = "(service {service}) (task {task}) failed container health checks."

# Stop codes and stopped reasons: "Amazon ECS stopped task error messages",
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
# and the StopCode values of the Task data type,
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html
ESSENTIAL_EXITED = "Essential container in task exited"
HEALTH_CHECKS_FAILED = "Task failed container health checks"
SCALING = "Scaling activity initiated by (deployment {deployment})"
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
# The container runtime refusing the container (an image with no command,
# say): the same page, in the words of ECS's agent on a Docker runtime.
CANNOT_CREATE = "CannotCreateContainerError: Error response from daemon: {explanation}"
CANNOT_START = "CannotStartContainerError: Error response from daemon: {explanation}"

# Registry authorization without the ecr.api endpoint: "ResourceInitializationError
# errors in Amazon ECS",
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html
REGISTRY_AUTH_TIMEOUT = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
    "retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 "
    'time(s): RequestError: send request failed caused by: Post "https://{host}/": dial tcp '
    "{address}:443: i/o timeout. Please check your task network configuration."
)
# The log stream without the logs endpoint, and without its log group: the same page.
LOGS_TIMEOUT = (
    "ResourceInitializationError: failed to validate logger args: The task cannot find the "
    "Amazon CloudWatch log group defined in the task definition. There is a connection issue "
    "between the task and Amazon CloudWatch. Check your network configuration. : signal: killed"
)
LOG_GROUP_MISSING = (
    "ResourceInitializationError: failed to validate logger args: create stream has been retried "
    "1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified "
    "log group does not exist. : exit status 1"
)
# Pulls: "CannotPullContainer task errors in Amazon ECS",
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html
# (no route to the registry: the ecr.dkr endpoint; no route to the layers'
# bucket: the S3 gateway endpoint; an image or tag that does not exist).
REGISTRY_TIMEOUT = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
    'ref {image}: failed to do request: Head "https://{registry}/v2/{repository}/manifests/{reference}": '
    "dial tcp {address}:443: i/o timeout"
)
LAYERS_TIMEOUT = (
    "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: "
    'httpReadSeeker: failed open: failed to do request: Get "https://prod-{region}-starport-layer-bucket'
    '.s3.{region}.amazonaws.com/{path}": dial tcp {address}:443: i/o timeout'
)
IMAGE_NOT_FOUND = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
    "ref {image}: {image}: not found"
)
# The address a public AWS host name resolves to in these messages: a
# documentation address (TEST-NET-3), since nothing here resolves it.
PUBLIC_ADDRESS = "203.0.113.10"


class LocalAws:
    """moto, through its AWS APIs and the local ECS's private endpoints."""

    def __init__(self, endpoint, ca_bundle):
        self.endpoint = endpoint.rstrip("/")
        self.ca_bundle = ca_bundle
        session = boto3.session.Session()
        self.region = session.region_name
        self.ecs = session.client("ecs")
        self.ec2 = session.client("ec2")
        self.logs = session.client("logs")
        self.ecr = session.client("ecr")
        self.account = session.client("sts").get_caller_identity()["Account"]

    def record(self, action, **body):
        """Records what ECS's scheduler or agent would (moto-server.py)."""
        answer = requests.post(
            f"{self.endpoint}/moto-api/isokit/ecs/{action}",
            json={"account": self.account, "region": self.region, **body},
            verify=self.ca_bundle,
            timeout=10,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"moto refused {action}: HTTP {answer.status_code} {answer.text}")
        return answer.json()

    def registry_credentials(self):
        # Read as any ECR client does: from the authorization token.
        token = self.ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        username, password = base64.b64decode(token).decode().split(":", 1)
        return {"username": username, "password": password}


class Authority:
    """The CA of this run of the local ECS, in memory only: its stand-ins'
    certificates chain to it, and its tasks are given it to trust."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "isokit local ECS CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )

    def pem(self):
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def leaf(self, hosts):
        """A server certificate and key (PEM) for the host names."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cert_pem, key_pem


class StartFailure(Exception):
    """A task that cannot start, with ECS's words for why."""


class Vpc:
    """What a task in one subnet of a VPC can reach, read from moto's EC2:
    the interface endpoints with private DNS and the host names they answer,
    and whether the subnet's route table has the S3 gateway endpoint."""

    def __init__(self, aws, subnet_id):
        subnet = aws.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
        self.subnet_id = subnet_id
        self.vpc_id = subnet["VpcId"]
        self.cidr = subnet["CidrBlock"]
        prefix = f"com.amazonaws.{aws.region}."
        endpoints = aws.ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}])["VpcEndpoints"]
        route_table = self._route_table(aws)
        # endpoint service (such as ecr.dkr) -> host names its stand-in answers
        self.hosts = {}
        for endpoint in endpoints:
            if endpoint.get("State", "available").lower() not in ("available", "pending"):
                continue
            name = endpoint["ServiceName"]
            service = name[len(prefix):] if name.startswith(prefix) else name
            kind = endpoint.get("VpcEndpointType", "Gateway")
            if kind == "Interface" and endpoint.get("PrivateDnsEnabled"):
                self.hosts[service] = self._private_dns_names(aws, name)
            elif kind == "Gateway" and route_table in endpoint.get("RouteTableIds", []):
                self.hosts[service] = [f"{service}.{aws.region}.amazonaws.com"]

    def _route_table(self, aws):
        tables = aws.ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [self.subnet_id]}]
        )["RouteTables"]
        if not tables:  # a subnet with no table of its own uses the VPC's main one
            tables = aws.ec2.describe_route_tables(
                Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
            )["RouteTables"]
        return tables[0]["RouteTableId"] if tables else None

    @staticmethod
    def _private_dns_names(aws, service_name):
        details = aws.ec2.describe_vpc_endpoint_services(ServiceNames=[service_name]).get("ServiceDetails", [])
        names = []
        for detail in details:
            for name in [detail.get("PrivateDnsName")] + [d.get("PrivateDnsName") for d in detail.get("PrivateDnsNames", [])]:
                # An alias cannot be a wildcard: the registry zone
                # (*.dkr.ecr...) answers the account's registry host, the one
                # name under it a task uses.
                if name and name.startswith("*."):
                    name = f"{aws.account}.{name[2:]}"
                if name and name not in names:
                    names.append(name)
        return names

    def has(self, service):
        return service in self.hosts


class Network:
    """One subnet in miniature: an isolated Docker network in a slice of the
    subnet's range, and the stand-ins of its VPC's endpoints."""

    def __init__(self, name, vpc, slice_cidr):
        self.name = name
        self.vpc = vpc
        self.slice = ipaddress.ip_network(slice_cidr)
        self.tasks = set()
        self.idle_since = time.monotonic()
        self.reserved = set()

    def free_address(self, engine):
        """An address for a task: from the upper half of the slice, where the
        engine, which hands addresses to the stand-ins from the bottom, never
        goes; and not the last one."""
        inspected = engine.api.inspect_network(self.name)
        taken = {c["IPv4Address"].split("/")[0] for c in (inspected.get("Containers") or {}).values()}
        hosts = list(self.slice.hosts())
        for address in hosts[len(hosts) // 2 : -1]:
            text = str(address)
            if text not in taken and text not in self.reserved:
                self.reserved.add(text)
                return text
        raise RuntimeError(f"no free address left in {self.slice} for a task")


class Networks:
    """The networks of the subnets tasks run in, made on first use and
    removed once idle."""

    def __init__(self, engine, aws, authority, standin_image):
        self.engine = engine
        self.aws = aws
        self.authority = authority
        self.standin_image = standin_image
        self.lock = threading.Lock()
        self.by_subnet = {}

    def acquire(self, subnet_id, task_id):
        with self.lock:
            network = self.by_subnet.get(subnet_id)
            if network is None:
                network = self._create(subnet_id)
                self.by_subnet[subnet_id] = network
            network.tasks.add(task_id)
            return network

    def release(self, network, task_id, address):
        with self.lock:
            network.tasks.discard(task_id)
            network.reserved.discard(address)
            if not network.tasks:
                network.idle_since = time.monotonic()

    def remove_idle(self, wanted_subnets):
        """Removes the networks no task uses, whose subnet no service wants."""
        with self.lock:
            for subnet_id, network in list(self.by_subnet.items()):
                idle = not network.tasks and time.monotonic() - network.idle_since > NETWORK_IDLE_SECONDS
                if idle and subnet_id not in wanted_subnets:
                    log.info("removing network %s (%s): no task needs it", network.name, network.slice)
                    remove_labelled(self.engine, f"{LABEL}={network.name}")
                    del self.by_subnet[subnet_id]

    def _create(self, subnet_id):
        vpc = Vpc(self.aws, subnet_id)
        name = f"isokit-local-ecs-{subnet_id}"
        labels = {LABEL: name, ROLE_LABEL: "network"}
        remove_labelled(self.engine, f"{LABEL}={name}")  # whatever a crashed run left
        for candidate in self._slices(vpc.cidr):
            try:
                self.engine.api.create_network(
                    name,
                    driver="bridge",
                    internal=True,
                    # No IPv4 address on the host's side of the bridge: an
                    # internal bridge alone still lets containers reach
                    # whatever the host serves on 0.0.0.0.
                    options={"com.docker.network.bridge.inhibit_ipv4": "true"},
                    ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=candidate)]),
                    labels=labels,
                )
            except docker.errors.APIError as err:
                if "overlap" in str(err).lower():
                    continue
                raise
            network = Network(name, vpc, candidate)
            log.info(
                "network %s: %s of %s in %s, endpoints %s",
                name, candidate, subnet_id, vpc.vpc_id, ", ".join(sorted(vpc.hosts)) or "none",
            )
            try:
                self._start_standins(network)
            except Exception:
                remove_labelled(self.engine, f"{LABEL}={name}")
                raise
            return network
        raise RuntimeError(f"every /{SLICE_PREFIX} of {vpc.cidr} overlaps another network on this engine")

    def _slices(self, cidr):
        """Slices of the subnet, from its top: the engine refuses overlapping
        networks, and rehearsals (crates/isokit-rehearse) mirror a subnet
        from its start, as do other VPCs with the same range."""
        subnet = ipaddress.ip_network(cidr)
        taken = []
        for network in self.engine.api.networks():
            for pool in (network.get("IPAM") or {}).get("Config") or []:
                if pool.get("Subnet"):
                    try:
                        taken.append(ipaddress.ip_network(pool["Subnet"]))
                    except ValueError:
                        pass
        prefix = max(subnet.prefixlen, SLICE_PREFIX)
        for candidate in reversed(list(subnet.subnets(new_prefix=prefix))):
            if not any(candidate.overlaps(other) for other in taken):
                yield str(candidate)

    def _start_standins(self, network):
        if not self.engine.images.list(name=self.standin_image):
            raise RuntimeError(
                f"the stand-in image {self.standin_image} is not in the Docker engine: build it with "
                "scripts/build-service-image, then run scripts/local-aws up"
            )
        started = []
        for service, hosts in sorted(network.vpc.hosts.items()):
            cert_pem, key_pem = self.authority.leaf(hosts)
            container = self.engine.api.create_container(
                self.standin_image,
                command=["standin"],
                name=f"{network.name}-{service.replace('.', '-')}",
                # The image's health check asks the service's /health, which
                # a stand-in does not serve.
                healthcheck={"test": ["NONE"]},
                environment={"ISOKIT_STANDIN_CERT_PEM": cert_pem, "ISOKIT_STANDIN_KEY_PEM": key_pem},
                labels={LABEL: network.name, ROLE_LABEL: "standin"},
                host_config=self.engine.api.create_host_config(
                    network_mode=network.name,
                    read_only=True,
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges:true"],
                    dns=["127.0.0.1"],
                ),
                networking_config=self.engine.api.create_networking_config(
                    {network.name: self.engine.api.create_endpoint_config(aliases=hosts)}
                ),
            )
            self.engine.api.start(container["Id"])
            started.append((service, container["Id"]))
        deadline = time.monotonic() + STANDIN_START_SECONDS
        for service, container in started:
            while b"listening on" not in self.engine.api.logs(container):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {service} stand-in did not start listening in {STANDIN_START_SECONDS} s")
                time.sleep(0.1)


def remove_labelled(engine, label):
    """Removes the containers, then the networks, carrying the label."""
    for container in engine.api.containers(all=True, filters={"label": label}):
        try:
            engine.api.remove_container(container["Id"], force=True, v=True)
        except docker.errors.NotFound:
            pass
    for network in engine.api.networks(filters={"label": label}):
        try:
            engine.api.remove_network(network["Id"])
        except docker.errors.NotFound:
            pass


def image_parts(image):
    """registry, repository and reference (tag or digest) of an image URI."""
    registry, _, rest = image.partition("/")
    if "@" in rest:
        repository, reference = rest.split("@", 1)
    elif ":" in rest:
        repository, reference = rest.rsplit(":", 1)
    else:
        repository, reference = rest, "latest"
    return registry, repository, reference


def capabilities(container_definition):
    """ECS's LinuxParameters.Capabilities: drop first, then add."""
    parameters = (container_definition.get("linuxParameters") or {}).get("capabilities") or {}
    strip = lambda names: [n.strip().upper().removeprefix("CAP_") for n in names or []]
    drop, add = strip(parameters.get("drop")), strip(parameters.get("add"))
    granted = [] if "ALL" in drop else [c for c in DOCKER_DEFAULT_CAPABILITIES if c not in drop]
    return granted + [c for c in add if c not in granted]


def docker_health_check(container_definition):
    check = container_definition.get("healthCheck")
    if not check:
        return None
    seconds = lambda value: int(value * 1_000_000_000)
    # ECS's defaults: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html
    return {
        "test": check["command"],
        "interval": seconds(check.get("interval", 30)),
        "timeout": seconds(check.get("timeout", 5)),
        "retries": check.get("retries", 3),
        "start_period": seconds(check.get("startPeriod", 0)),
    }


HEALTH = {"starting": "UNKNOWN", "healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}


class LogStream:
    """Ships one container's output to its awslogs stream, one event per
    line, stamped with the engine's timestamp of the line."""

    def __init__(self, engine, aws, container_id, group, stream):
        self.engine = engine
        self.aws = aws
        self.container_id = container_id
        self.group = group
        self.stream = stream
        self.thread = threading.Thread(target=self._ship, name=f"logs {stream}", daemon=True)

    def start(self):
        self.thread.start()

    def join(self, seconds):
        self.thread.join(seconds)

    def _ship(self):
        pending = b""
        try:
            for chunk in self.engine.api.logs(self.container_id, stream=True, follow=True, timestamps=True):
                pending += chunk
                lines, _, pending = pending.rpartition(b"\n")
                if lines:
                    self._put(lines.split(b"\n"))
            if pending:
                self._put([pending])
        except Exception as err:  # the container vanished, or moto did
            log.warning("log stream %s stopped: %s", self.stream, err)

    def _put(self, lines):
        events = []
        for line in lines:
            stamp, _, text = line.decode("utf-8", "replace").partition(" ")
            if text.strip():  # the awslogs driver skips empty lines too
                events.append({"timestamp": milliseconds(stamp), "message": text})
        if not events:
            return
        try:
            self.aws.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=events)
        except Exception as err:
            log.warning("could not write %d line(s) to %s: %s", len(events), self.stream, err)


def milliseconds(rfc3339):
    """The engine's RFC 3339 timestamp (nanoseconds, Z) in epoch milliseconds."""
    try:
        seconds, _, fraction = rfc3339.rstrip("Z").partition(".")
        moment = datetime.datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        return int(moment.timestamp() * 1000) + int((fraction or "0")[:3].ljust(3, "0"))
    except ValueError:
        return int(time.time() * 1000)


class Task:
    """One task of a service, from PROVISIONING to STOPPED, on its own thread."""

    def __init__(self, ecs, service):
        self.ecs = ecs
        self.aws = ecs.aws
        self.engine = ecs.engine
        self.cluster = service["clusterArn"]
        self.service_name = service["serviceName"]
        self.service_key = (service["clusterArn"], service["serviceName"])
        self.task_definition = service["taskDefinition"]
        self.deployment = next(d["id"] for d in service["deployments"] if d["status"] == "PRIMARY")
        subnets = service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
        # Rehearsals mirror a stack's first subnet on this engine: the local
        # ECS fills the last, so that both can run at once.
        self.subnet_id = subnets[-1]
        self.arn = None
        self.id = None
        self.running = False
        self.finished = False
        self.failed = False
        self.stop_request = None  # (stop code, stopped reason) or () when moto has them
        # Whether the scheduler has counted this task's end for its back-off.
        self.counted = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"task of {self.service_name}", daemon=True)

    def start(self):
        self.thread.start()

    def request_stop(self, code=None, reason=None):
        with self.lock:
            if self.stop_request is None:
                self.stop_request = (code, reason) if code else ()

    def stopping(self):
        with self.lock:
            return self.stop_request is not None

    def record(self, **state):
        self.aws.record("task-state", cluster=self.cluster, task=self.arn, **state)

    def _run(self):
        network = address = None
        containers = []
        streams = []
        try:
            definition = self.aws.ecs.describe_task_definition(taskDefinition=self.task_definition)["taskDefinition"]
            network = self.ecs.networks.acquire(self.subnet_id, id(self))
            address = network.free_address(self.engine)
            self.arn = self.aws.record(
                "start-task", cluster=self.cluster, service=self.service_name,
                subnetId=self.subnet_id, privateIpv4Address=address,
            )["taskArn"]
            self.id = self.arn.rsplit("/", 1)[-1]
            log.info("task %s of %s: PROVISIONING at %s in %s", self.id, self.service_name, address, network.name)
            self.record(lastStatus="PENDING")
            try:
                self._prepare(definition, network.vpc)
                containers, streams = self._start_containers(definition, network, address)
            except StartFailure as failure:
                self._fail_start(definition, str(failure))
                return
            self.running = True
            self._watch(definition, containers)
        except Exception as err:
            # Not ECS's doing but the local ECS's own: logged, and the task
            # (when recorded) stopped, so that the service retries after its back-off.
            log.error("task %s of %s: %s", self.id or "(not recorded)", self.service_name, err)
            self.failed = True
            if self.arn:
                self._record_stopped({}, "TaskFailedToStart", f"local ECS: {err}", failed=True)
        finally:
            for container in containers:
                try:
                    self.engine.api.stop(container["id"], timeout=1)
                except docker.errors.APIError:
                    pass
            for stream in streams:
                stream.join(5)
            if self.id:
                remove_labelled(self.engine, f"{LABEL}={self.id}")
            if network:
                self.ecs.networks.release(network, id(self), address)
            self.finished = True

    def _prepare(self, definition, vpc):
        """What Fargate does before the containers start: registry
        authorization, the pull, the log streams; each fails as in AWS when
        the VPC lacks the endpoint it needs."""
        region = self.aws.region
        for container in definition["containerDefinitions"]:
            image = container["image"]
            registry, repository, reference = image_parts(image)
            in_ecr = registry == f"{self.aws.account}.dkr.ecr.{region}.amazonaws.com"
            if in_ecr and not vpc.has("ecr.api"):
                self._delay()
                raise StartFailure(REGISTRY_AUTH_TIMEOUT.format(host=f"api.ecr.{region}.amazonaws.com", address=PUBLIC_ADDRESS))
            if not in_ecr or not vpc.has("ecr.dkr"):
                # Nothing but the local ECR is reachable from here, as from
                # an isolated VPC nothing but its endpoints is.
                self._delay()
                raise StartFailure(REGISTRY_TIMEOUT.format(
                    image=image, registry=registry, repository=repository, reference=reference, address=PUBLIC_ADDRESS,
                ))
            self.record(pullStarted=True)
            if not vpc.has("s3"):
                self._delay()
                raise StartFailure(LAYERS_TIMEOUT.format(region=region, path=f"{uuid.uuid4()}/{uuid.uuid4()}", address=PUBLIC_ADDRESS))
            self._pull(image, f"{registry}/{repository}", reference)
            self.record(pullStopped=True)
        for container in definition["containerDefinitions"]:
            logging_options = self._awslogs(container)
            if not logging_options:
                continue
            if not vpc.has("logs"):
                self._delay()
                raise StartFailure(LOGS_TIMEOUT)
            group, stream = logging_options
            if str(container["logConfiguration"]["options"].get("awslogs-create-group", "")).lower() == "true":
                try:
                    self.aws.logs.create_log_group(logGroupName=group)
                except self.aws.logs.exceptions.ResourceAlreadyExistsException:
                    pass
            try:
                self.aws.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            except self.aws.logs.exceptions.ResourceNotFoundException as err:
                raise StartFailure(LOG_GROUP_MISSING) from err
            except self.aws.logs.exceptions.ResourceAlreadyExistsException:
                pass

    def _pull(self, image, repository, reference):
        try:
            progress = self.engine.api.pull(
                repository, tag=reference, auth_config=self.aws.registry_credentials(), stream=True, decode=True
            )
            error = next((line["error"] for line in progress if "error" in line), None)
        except docker.errors.APIError as err:
            error = str(err)
        if error is None:
            return
        if "not found" in error.lower() or "unknown" in error.lower():
            raise StartFailure(IMAGE_NOT_FOUND.format(image=image))
        raise RuntimeError(f"pull of {image} failed: {error}")

    def _awslogs(self, container):
        configuration = container.get("logConfiguration") or {}
        if configuration.get("logDriver") != "awslogs":
            return None
        options = configuration.get("options") or {}
        prefix = options.get("awslogs-stream-prefix")
        stream = f"{prefix}/{container['name']}/{self.id}" if prefix else self.id
        return options["awslogs-group"], stream

    def _delay(self):
        # Stopping within the delay still wins: ECS honours a stop request.
        deadline = time.monotonic() + FAILED_START_SECONDS
        while time.monotonic() < deadline and not self.stopping():
            time.sleep(0.2)

    def _start_containers(self, definition, network, address):
        api = self.engine.api
        ca_pem = self.ecs.authority.pem()
        volumes = {volume["name"] for volume in definition.get("volumes", [])}
        containers, streams = [], []
        task_cpu = int(definition.get("cpu") or 0)
        task_memory = int(definition.get("memory") or 0)
        for container in definition["containerDefinitions"]:
            environment = {item["name"]: item["value"] for item in container.get("environment", [])}
            environment["ISOKIT_CA_PEM"] = ca_pem
            cpu = int(container.get("cpu") or 0) or task_cpu
            memory_mib = int(container.get("memory") or 0) or task_memory
            # Task volumes without a host or EFS setting are Fargate's
            # ephemeral storage: empty and writable; in memory here.
            tmpfs = {m["containerPath"]: "" for m in container.get("mountPoints", []) if m.get("sourceVolume") in volumes}
            host_config = api.create_host_config(
                network_mode=network.name,
                read_only=bool(container.get("readonlyRootFilesystem")),
                tmpfs=tmpfs or None,
                privileged=False,
                cap_drop=["ALL"],
                cap_add=capabilities(container) or None,
                security_opt=["no-new-privileges:true"],
                nano_cpus=cpu * 1_000_000_000 // 1024 if cpu else None,
                mem_limit=memory_mib * 1024 * 1024 if memory_mib else None,
                # Equal to the memory limit: no swap, as on Fargate.
                memswap_limit=memory_mib * 1024 * 1024 if memory_mib else None,
                # The engine's DNS answers the stand-ins' aliases and sends
                # every other name here, where nothing listens.
                dns=["127.0.0.1"],
                init=bool((container.get("linuxParameters") or {}).get("initProcessEnabled")),
            )
            created = self._create(
                container["image"],
                command=container.get("command"),
                entrypoint=container.get("entryPoint"),
                working_dir=container.get("workingDirectory"),
                environment=environment,
                user=container.get("user"),
                name=f"isokit-local-ecs-{self.id}-{container['name']}",
                labels={LABEL: self.id, ROLE_LABEL: "task", TASK_ARN_LABEL: self.arn, CLUSTER_LABEL: self.cluster},
                healthcheck=docker_health_check(container),
                host_config=host_config,
                networking_config=api.create_networking_config(
                    {network.name: api.create_endpoint_config(ipv4_address=address)}
                ),
            )
            containers.append({"id": created["Id"], "definition": container})
        for container in containers:
            try:
                api.start(container["id"])
            except docker.errors.APIError as err:
                raise StartFailure(CANNOT_START.format(explanation=err.explanation or err)) from err
            logging_options = self._awslogs(container["definition"])
            if logging_options:
                stream = LogStream(self.engine, self.aws, container["id"], *logging_options)
                stream.start()
                streams.append(stream)
        self.record(
            lastStatus="RUNNING",
            containers={
                c["definition"]["name"]: {
                    "lastStatus": "RUNNING",
                    "runtimeId": c["id"],
                    "imageDigest": self._digest(c["definition"]["image"]),
                }
                for c in containers
            },
        )
        log.info("task %s of %s: RUNNING", self.id, self.service_name)
        return containers, streams

    def _create(self, image, **options):
        try:
            return self.engine.api.create_container(image, **options)
        except docker.errors.APIError as err:
            raise StartFailure(CANNOT_CREATE.format(explanation=err.explanation or err)) from err

    def _digest(self, image):
        try:
            digests = self.engine.api.inspect_image(image).get("RepoDigests") or []
            return digests[0].split("@", 1)[1] if digests else None
        except (docker.errors.APIError, IndexError):
            return None

    def _watch(self, definition, containers):
        api = self.engine.api
        health = {}
        task_health = "UNKNOWN"
        checked = any(c["definition"].get("healthCheck") for c in containers)
        steady_at = time.monotonic() + STEADY_SECONDS
        steady = False
        while True:
            states = {c["definition"]["name"]: api.inspect_container(c["id"])["State"] for c in containers}
            exited = [
                c for c in containers
                if c["definition"].get("essential", True) and states[c["definition"]["name"]]["Status"] in ("exited", "dead")
            ]
            if exited:
                self._stop(containers, "EssentialContainerExited", ESSENTIAL_EXITED, failed=True)
                return
            changes = {}
            for name, state in states.items():
                status = HEALTH.get((state.get("Health") or {}).get("Status"))
                if status and health.get(name) != status:
                    health[name] = changes[name] = status
            if changes:
                essential = [c["definition"]["name"] for c in containers if c["definition"].get("essential", True)]
                checked = [health[n] for n in essential if n in health]
                task_health = (
                    "UNHEALTHY" if "UNHEALTHY" in checked
                    else "HEALTHY" if checked and all(h == "HEALTHY" for h in checked)
                    else "UNKNOWN"
                )
                self.record(healthStatus=task_health, containers={n: {"healthStatus": h} for n, h in changes.items()})
                if task_health == "UNHEALTHY":
                    # The service scheduler replaces a task whose essential
                    # container fails its health check.
                    self.aws.record("service-event", cluster=self.cluster, service=self.service_name,
                                    message=EVENT_UNHEALTHY.format(service=self.service_name, task=self.id))
                    self.request_stop("ServiceSchedulerInitiated", HEALTH_CHECKS_FAILED)
                    self._stop(containers, failed=True, scheduler_event=True)
                    return
            if self.stopping():
                self._stop(containers, scheduler_event=bool(self.stop_request))
                return
            if not steady and time.monotonic() >= steady_at and (not checked or task_health == "HEALTHY"):
                steady = True
                self.record(steady=True)
            time.sleep(0.5)

    def _stop(self, containers, code=None, reason=None, failed=False, scheduler_event=False):
        api = self.engine.api
        with self.lock:
            requested = self.stop_request
        if requested:
            code, reason = requested
        if code:
            # ECS records the stop decision first, then stops the containers.
            self.record(desiredStatus="STOPPED", stopCode=code, stoppedReason=reason)
        for container in containers:
            timeout = container["definition"].get("stopTimeout") or DEFAULT_STOP_TIMEOUT
            if self.ecs.stopping.is_set():
                timeout = 2  # scripts/local-aws down gives the local ECS 20 s in all
            try:
                api.stop(container["id"], timeout=timeout)
            except docker.errors.APIError:
                pass
        results = {}
        for container in containers:
            state = api.inspect_container(container["id"])["State"]
            result = {"lastStatus": "STOPPED", "exitCode": state.get("ExitCode")}
            if state.get("OOMKilled"):
                result["reason"] = OUT_OF_MEMORY
            results[container["definition"]["name"]] = result
        # The container's last lines reach its log stream before the task
        # reads as stopped, as with the awslogs driver.
        self._record_stopped(results, code, reason, failed=failed)
        if scheduler_event:
            self.aws.record("service-event", cluster=self.cluster, service=self.service_name,
                            message=EVENT_STOPPED.format(service=self.service_name, task=self.id))

    def _fail_start(self, definition, reason):
        log.info("task %s of %s: %s", self.id, self.service_name, reason)
        containers = {c["name"]: {"lastStatus": "STOPPED", "reason": reason} for c in definition["containerDefinitions"]}
        if self.stopping() and self.stop_request:
            self._record_stopped(containers, *self.stop_request)
        else:
            self._record_stopped(containers, "TaskFailedToStart", reason, failed=True)

    def _record_stopped(self, containers, code, reason, failed=False):
        self.failed = failed
        state = {"lastStatus": "STOPPED", "containers": containers, "failed": failed}
        if code:
            state.update(stopCode=code, stoppedReason=reason)
        try:
            self.record(**state)
            log.info("task %s of %s: STOPPED (%s: %s)", self.id, self.service_name, code, reason)
        except Exception as err:  # moto restarted, say: nothing left to record in
            log.warning("could not record task %s stopped: %s", self.id, err)


class LocalEcs:
    def __init__(self, aws, engine, standin_image):
        self.aws = aws
        self.engine = engine
        self.authority = Authority()
        self.networks = Networks(engine, aws, self.authority, standin_image)
        self.tasks = []
        self.failures = {}  # service key -> (failures in a row, no start before)
        self.stopping = threading.Event()

    def run(self):
        self._sweep_leftovers()
        while not self.stopping.is_set():
            try:
                self._reconcile()
            except Exception as err:
                log.warning("could not read moto's services: %s", err)
            self.stopping.wait(POLL_SECONDS)
        self._shut_down()

    def _services(self):
        services = []
        for cluster in self._paged(self.aws.ecs.list_clusters, "clusterArns"):
            arns = self._paged(lambda **kw: self.aws.ecs.list_services(cluster=cluster, **kw), "serviceArns")
            for start in range(0, len(arns), 10):
                services += self.aws.ecs.describe_services(cluster=cluster, services=arns[start:start + 10])["services"]
        return [s for s in services if is_fargate(s)]

    @staticmethod
    def _paged(call, key):
        items, token = [], None
        while True:
            page = call(**({"nextToken": token} if token else {}))
            items += page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return items

    def _reconcile(self):
        services = {(s["clusterArn"], s["serviceName"]): s for s in self._services()}
        self._honour_stop_task()
        wanted_subnets = set()
        for key, service in services.items():
            desired = service["desiredCount"] if service["status"] == "ACTIVE" else 0
            if desired:
                wanted_subnets.update(service["networkConfiguration"]["awsvpcConfiguration"]["subnets"])
            self._scale(key, service, desired)
        for task in self.tasks:
            if task.service_key not in services and not task.stopping():
                # Its service is gone from moto altogether (moto restarted).
                task.request_stop("ServiceSchedulerInitiated", "Task stopped because its service no longer exists")
        for key in {task.service_key for task in self.tasks}:
            self._note_failures(key, [task for task in self.tasks if task.service_key == key])
        self.tasks = [task for task in self.tasks if not task.finished]
        self.networks.remove_idle(wanted_subnets)

    def _honour_stop_task(self):
        """StopTask on a running task: moto records the request, the data
        plane stops it (moto-server.py)."""
        by_cluster = {}
        for task in self.tasks:
            if task.arn and task.running and not task.stopping():
                by_cluster.setdefault(task.cluster, []).append(task)
        for cluster, tasks in by_cluster.items():
            for start in range(0, len(tasks), 100):
                batch = {task.arn: task for task in tasks[start:start + 100]}
                try:
                    described = self.aws.ecs.describe_tasks(cluster=cluster, tasks=list(batch))["tasks"]
                except self.aws.ecs.exceptions.ClusterNotFoundException:
                    # moto restarted (or the cluster went with its stack):
                    # the clean-up of tasks moto no longer knows stops these.
                    break
                for found in described:
                    if found.get("desiredStatus") == "STOPPED" and found["taskArn"] in batch:
                        batch[found["taskArn"]].request_stop()

    def _scale(self, key, service, desired):
        self._note_failures(key, [task for task in self.tasks if task.service_key == key])
        live = [task for task in self.tasks if task.service_key == key and not task.finished and not task.stopping()]
        current = [task for task in live if task.task_definition == service["taskDefinition"]]
        outdated = [task for task in live if task.task_definition != service["taskDefinition"]]
        # A new deployment: its tasks start beside the old ones, and the old
        # ones stop once as many new ones run (minimumHealthyPercent 100).
        if outdated and sum(task.running for task in current) >= desired:
            for task in outdated:
                self._scale_in(task)
        if len(current) > desired:
            for task in sorted(current, key=lambda t: t.running)[: len(current) - desired]:
                self._scale_in(task)
        missing = desired - len(current)
        _, not_before = self.failures.get(key, (0, 0))
        if missing > 0 and time.monotonic() >= not_before and service.get("networkConfiguration"):
            for _ in range(missing):
                task = Task(self, service)
                self.tasks.append(task)
                task.start()

    def _note_failures(self, key, tasks):
        """Back-off between starts of a service whose tasks keep failing."""
        failures, not_before = self.failures.get(key, (0, 0))
        for task in tasks:
            if task.finished and not task.counted:
                task.counted = True
                if task.failed:
                    failures += 1
                    pause = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS)) - 1]
                    not_before = time.monotonic() + pause
            elif task.running and not task.stopping():
                failures = 0
        self.failures[key] = (failures, not_before)

    @staticmethod
    def _scale_in(task):
        task.request_stop("ServiceSchedulerInitiated", SCALING.format(deployment=task.deployment))

    def _sweep_leftovers(self):
        """Removes what a run that was killed left: its tasks are recorded as
        stopped, since nothing runs them any more."""
        for container in self.engine.api.containers(all=True, filters={"label": f"{ROLE_LABEL}=task"}):
            labels = container.get("Labels") or {}
            try:
                self.aws.record(
                    "task-state", cluster=labels[CLUSTER_LABEL], task=labels[TASK_ARN_LABEL], lastStatus="STOPPED",
                    stopCode="ServiceSchedulerInitiated", stoppedReason="Task stopped because the local ECS restarted",
                )
            except Exception as err:
                log.info("left over task %s not recorded: %s", labels.get(TASK_ARN_LABEL), err)
        remove_labelled(self.engine, LABEL)

    def _shut_down(self):
        log.info("stopping %d task(s)", sum(not t.finished for t in self.tasks))
        for task in self.tasks:
            task.request_stop("ServiceSchedulerInitiated", "Task stopped because the local ECS stopped")
        deadline = time.monotonic() + 15
        for task in self.tasks:
            task.thread.join(max(0.1, deadline - time.monotonic()))
        remove_labelled(self.engine, LABEL)
        log.info("stopped; everything labelled %s removed", LABEL)


def is_fargate(service):
    if service.get("launchType") == "FARGATE":
        return True
    strategy = service.get("capacityProviderStrategy") or []
    return any(item.get("capacityProvider") in ("FARGATE", "FARGATE_SPOT") for item in strategy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="moto's URL (AWS_ENDPOINT_URL)")
    parser.add_argument("--ca-bundle", required=True, help="the CA moto's certificate chains to")
    parser.add_argument("--standin-image", required=True, help="the isokit-service image the endpoint stand-ins run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    local_ecs = LocalEcs(LocalAws(args.endpoint, args.ca_bundle), docker.from_env(), args.standin_image)
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(stop_signal, lambda *_: local_ecs.stopping.set())
    log.info("watching moto's Fargate services (stand-ins: %s)", args.standin_image)
    local_ecs.run()


if __name__ == "__main__":
    main()
