"""ECS mended so that scripts/local-ecs.py, the local ECS data plane, can run
the services' tasks and moto can answer about them as ECS does (patches 7
to 10 in scripts/moto-server.py's list)."""

import json
import math

from moto.core.utils import pascal_to_camelcase, remap_nested_keys, utcnow
from moto.ec2 import ec2_backends
from moto.ec2.utils import generate_dns_from_ip
from moto.ecs import models as ecs
from moto.moto_api._internal import mock_random
from moto.moto_api._internal import urls as moto_api_urls

from moto_patches import check_replaced_source, refuse


def camel_keys(value):
    """CloudFormation's PascalCase properties in the API's camelCase."""
    return remap_nested_keys(value, pascal_to_camelcase) if value is not None else None


def awsvpc_configuration(properties):
    network = camel_keys(properties.get("NetworkConfiguration"))
    if not network:
        return None
    awsvpc = network.get("awsvpcConfiguration") or {}
    for key in ("subnets", "securityGroups"):
        # A List<AWS::EC2::Subnet::Id> parameter may arrive as one joined string.
        if isinstance(awsvpc.get(key), str):
            awsvpc[key] = [item.strip() for item in awsvpc[key].split(",") if item.strip()]
    return network


def task_definition_arguments(properties):
    """RegisterTaskDefinition's arguments from AWS::ECS::TaskDefinition
    properties, all of them: moto's own create keeps only the family,
    containers, volumes and memory, so its tasks would not be awsvpc."""
    return {
        "family": properties.get("Family", f"task-definition-{int(mock_random.random() * 10**6)}"),
        "container_definitions": camel_keys(properties.get("ContainerDefinitions", [])),
        "volumes": camel_keys(properties.get("Volumes", [])),
        "network_mode": properties.get("NetworkMode"),
        "requires_compatibilities": properties.get("RequiresCompatibilities"),
        "cpu": None if properties.get("Cpu") is None else str(properties["Cpu"]),
        "memory": None if properties.get("Memory") is None else str(properties["Memory"]),
        "task_role_arn": properties.get("TaskRoleArn"),
        "execution_role_arn": properties.get("ExecutionRoleArn"),
        "runtime_platform": camel_keys(properties.get("RuntimePlatform")),
        "ephemeral_storage": camel_keys(properties.get("EphemeralStorage")),
        "pid_mode": properties.get("PidMode"),
        "ipc_mode": properties.get("IpcMode"),
        "tags": camel_keys(properties.get("Tags")),
    }


def create_task_definition_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    arguments = task_definition_arguments(cloudformation_json["Properties"])
    return ecs.ecs_backends[account_id][region_name].register_task_definition(**arguments)


def update_task_definition_from_cloudformation(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    # Every property of a task definition needs a new revision when it
    # changes, and only then (moto compared its stored camelCase containers
    # with the template's PascalCase ones, so every update made a revision).
    arguments = task_definition_arguments(cloudformation_json["Properties"])
    backend = ecs.ecs_backends[account_id][region_name]
    original = backend.describe_task_definition(original_resource.arn)
    unchanged = same_containers(original.container_definitions, arguments["container_definitions"]) and all(
        getattr(original, name, None) == value
        for name, value in arguments.items()
        if name not in ("container_definitions", "tags") and value is not None
    )
    if unchanged:
        return original_resource
    backend.deregister_task_definition(original_resource.arn)
    return backend.register_task_definition(**arguments)


# What moto's TaskDefinition fills into each container definition it stores.
CONTAINER_DEFAULTS = {"cpu": 0, "portMappings": [], "essential": True, "environment": [], "mountPoints": [], "volumesFrom": []}


def same_containers(stored, given):
    return len(stored) == len(given) and all(
        {**CONTAINER_DEFAULTS, **new} == old for old, new in zip(stored, given)
    )


def cfn_service_target(properties):
    cluster = properties["Cluster"]
    if isinstance(cluster, ecs.Cluster):
        cluster = cluster.name
    definition = properties["TaskDefinition"]
    if isinstance(definition, ecs.TaskDefinition):
        definition = definition.arn
    desired = properties.get("DesiredCount")
    return cluster, definition, None if desired is None else int(desired)


def keep_service_settings(service, properties):
    # What CreateService takes but moto's Service has no argument for: kept
    # as attributes, which DescribeServices then answers under ECS's names.
    service.deployment_configuration = camel_keys(properties.get("DeploymentConfiguration"))
    if "EnableExecuteCommand" in properties:
        service.enable_execute_command = str(properties["EnableExecuteCommand"]).lower() == "true"


def create_service_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    cluster, definition, desired = cfn_service_target(properties)
    service = ecs.ecs_backends[account_id][region_name].create_service(
        cluster,
        resource_name,
        desired,
        task_definition_str=definition,
        launch_type=properties.get("LaunchType"),
        platform_version=properties.get("PlatformVersion"),
        propagate_tags=properties.get("PropagateTags", "NONE"),
        network_configuration=awsvpc_configuration(properties),
    )
    keep_service_settings(service, properties)
    return service


def update_service_from_cloudformation(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json["Properties"]
    cluster, definition, desired = cfn_service_target(properties)
    backend = ecs.ecs_backends[account_id][region_name]
    if original_resource.cluster_arn != backend._get_cluster(cluster).arn:
        # A service cannot move between clusters: CloudFormation replaces it.
        backend.delete_service(original_resource.cluster_name, original_resource.name, force=True)
        return create_service_from_cloudformation(cls, new_resource_name, cloudformation_json, account_id, region_name)
    changes = {"cluster": cluster, "service": original_resource.name, "task_definition": definition, "desired_count": desired}
    network = awsvpc_configuration(properties)
    if network:
        changes["network_configuration"] = network
    service = backend.update_service(changes)
    keep_service_settings(service, properties)
    return service


def delete_service_with_stack(service, account_id, region_name):
    """Deleting the stack deletes the service, which stops its tasks."""
    ecs.ecs_backends[account_id][region_name].delete_service(service.cluster_name, service.name, force=True)


def task_last_status(task):
    return task._status


def set_task_last_status(task, value):
    task._status = value


def is_local(task):
    return getattr(task, "local_ecs", False)


def stop_task_as_ecs_does(backend, cluster_str, task_str, reason):
    cluster = backend._get_cluster(cluster_str)
    task_id = task_str.split("/")[-1]
    task = next((t for arn, t in backend.tasks.get(cluster.name, {}).items() if arn.endswith(task_id)), None)
    if task is None or not is_local(task):
        return ORIGINAL["stop_task"](backend, cluster_str, task_str, reason)
    # ECS records the request; the task stays as it is until its containers
    # have stopped, which the data plane then reports.
    if task.desired_status != "STOPPED":
        task.desired_status = "STOPPED"
        task.stop_code = "UserInitiated"
        task.stopped_reason = reason or "Task stopped by user"
        task.stopping_at = utcnow()
    return task


def list_tasks_of_service(backend, cluster_str=None, container_instance=None, family=None, started_by=None, service_name=None, desiredStatus=None):
    tasks = ORIGINAL["list_tasks"](backend, cluster_str, container_instance, family, started_by, None, desiredStatus)
    if service_name:
        group = f"service:{service_name.split('/')[-1]}"
        tasks = [task for task in tasks if task.group == group]
    return tasks


def update_service_with_deployments(backend, service_properties):
    cluster = service_properties.get("cluster", "default")
    name = service_properties["service"].split("/")[-1]
    before = backend._get_service(cluster, name)
    previous_definition = before.task_definition
    # moto gives the running deployment a new ID on a forced deployment; ECS
    # starts a new deployment instead, as for a new task definition.
    forced = bool(service_properties.pop("force_new_deployment", False))
    if service_properties.get("task_definition"):
        service_properties["task_definition"] = backend.describe_task_definition(service_properties["task_definition"]).arn
    service = ORIGINAL["update_service"](backend, service_properties)
    if service.deployments and (forced or service.task_definition != previous_definition):
        start_deployment(service)
    refresh_counts(backend, service)
    return service


def start_deployment(service):
    now = utcnow()
    for deployment in service.deployments:
        if deployment["status"] == "PRIMARY":
            deployment["status"] = "ACTIVE"
            deployment["updatedAt"] = now
    deployment_id = f"ecs-svc/{mock_random.randint(0, 10**19)}"
    service.deployments.insert(0, {
        **service.deployments[0],
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count,
        "runningCount": 0,
        "pendingCount": 0,
        "failedTasks": 0,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
        "createdAt": now,
        "updatedAt": now,
    })


# At most this many events are kept, as the ECS console shows.
SERVICE_EVENTS_KEPT = 100


def add_service_event(service, message):
    # Newest first, as DescribeServices lists them.
    service.events.insert(0, {"id": str(mock_random.uuid4()), "createdAt": utcnow(), "message": message})
    del service.events[SERVICE_EVENTS_KEPT:]


def tasks_of(backend, service):
    group = f"service:{service.name}"
    return [task for task in backend.tasks.get(service.cluster_name, {}).values() if task.group == group]


PENDING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")


def refresh_counts(backend, service):
    """The running and pending counts ECS reports, counted from the tasks,
    and the steady state once the primary deployment has all it wants, each
    task steady (the data plane says when: running a while, and healthy when
    it has a health check)."""
    tasks = tasks_of(backend, service)
    service.running_count = sum(task.last_status == "RUNNING" for task in tasks)
    service.pending_count = sum(task.last_status in PENDING_STATES for task in tasks)
    primary = None
    steady = 0
    for deployment in service.deployments:
        mine = [task for task in tasks if task.started_by == deployment["id"]]
        deployment["runningCount"] = sum(task.last_status == "RUNNING" for task in mine)
        deployment["pendingCount"] = sum(task.last_status in PENDING_STATES for task in mine)
        if deployment["status"] == "PRIMARY":
            deployment["desiredCount"] = service.desired_count if service.status == "ACTIVE" else 0
            primary = deployment
            steady = sum(task.last_status == "RUNNING" and getattr(task, "steady", False) for task in mine)
    cluster = backend._get_cluster(service.cluster_name)
    cluster_tasks = backend.tasks.get(cluster.name, {}).values()
    cluster.running_tasks_count = sum(task.last_status == "RUNNING" for task in cluster_tasks)
    cluster.pending_tasks_count = sum(task.last_status in PENDING_STATES for task in cluster_tasks)
    others_running = any(d is not primary and d["runningCount"] + d["pendingCount"] for d in service.deployments)
    if (
        primary is not None
        and service.status == "ACTIVE"
        and primary["rolloutState"] == "IN_PROGRESS"
        and primary["runningCount"] == service.desired_count
        and steady == service.desired_count
        and primary["pendingCount"] == 0
        and not others_running
    ):
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = utcnow()
        service.deployments[:] = [primary]
        add_service_event(service, f"(service {service.name}) (deployment {primary['id']}) deployment completed.")
        add_service_event(service, f"(service {service.name}) has reached a steady state.")


def count_failed_task(service, task):
    """ECS's deployment circuit breaker: a deployment in progress whose tasks
    keep failing (to start, or their health checks) is marked FAILED once
    the failures reach the threshold (half the desired count, at least 3, at
    most 200)."""
    deployment = next((d for d in service.deployments if d["id"] == task.started_by), None)
    if deployment is None or deployment["rolloutState"] != "IN_PROGRESS":
        return
    deployment["failedTasks"] = deployment.get("failedTasks", 0) + 1
    breaker = (getattr(service, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
    threshold = min(200, max(3, math.ceil(service.desired_count * 0.5)))
    if breaker.get("enable") and deployment["failedTasks"] >= threshold:
        deployment["rolloutState"] = "FAILED"
        deployment["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        deployment["updatedAt"] = utcnow()
        add_service_event(service, f"(service {service.name}) (deployment {deployment['id']}) deployment failed: tasks failed to start.")


def local_ecs_endpoint(action):
    def handle(request, full_url, headers):
        try:
            body = json.loads(request.get_data() or b"{}")
            backend = ecs.ecs_backends[body["account"]][body["region"]]
            answer = action(backend, body)
        except StopIteration:
            return 404, {"Content-Type": "application/json"}, json.dumps({"error": "no such task"})
        except (KeyError, ValueError, ecs.ECSException) as err:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": repr(err)})
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    handle.__name__ = f"isokit_local_ecs_{action.__name__}"
    return handle


def record_started_task(backend, body):
    """The scheduler starts a task for a service: PROVISIONING, with its
    network interface in the subnet and at the address the data plane gives it."""
    service = backend._get_service(body["cluster"], body["service"])
    cluster = backend._get_cluster(body["cluster"])
    primary = next(d for d in service.deployments if d["status"] == "PRIMARY")
    definition = backend.describe_task_definition(service.task_definition)
    network = json.loads(json.dumps(service.network_configuration))
    awsvpc = network["awsvpcConfiguration"]
    awsvpc["subnets"] = [body["subnetId"]] + [s for s in awsvpc.get("subnets", []) if s != body["subnetId"]]
    version = service.platform_version
    task = ecs.Task(
        cluster=cluster,
        task_definition=definition,
        container_instance_arn=None,
        resource_requirements=None,  # used to place tasks on EC2 instances only
        backend=backend,
        group=f"service:{service.name}",
        launch_type=service.launch_type or "FARGATE",
        started_by=primary["id"],
        networking_configuration=network,
        # The LATEST Fargate platform version for Linux.
        platform_version="1.4.0" if version in (None, "LATEST") else version,
    )
    # Task IDs are 32 hexadecimal digits in ECS.
    task.id = mock_random.uuid4().hex
    task.local_ecs = True
    task.last_status = "PROVISIONING"
    task.created_at = utcnow()
    task.version = 1
    task.platform_family = "Linux"
    task.cpu = definition.cpu
    task.memory = definition.memory
    task.health_status = "UNKNOWN"
    task.stopped_reason = None  # ECS has none to show until the task stops
    task.connectivity = "CONNECTED"
    task.connectivity_at = task.created_at
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    subnet = ec2.get_subnet(body["subnetId"])
    task.availability_zone = subnet.availability_zone
    address = body["privateIpv4Address"]
    attachment = task.attachments[0]
    eni = ec2.get_network_interface(next(d["value"] for d in attachment["details"] if d["name"] == "networkInterfaceId"))
    eni.private_ip_address = address
    eni.private_dns_name = generate_dns_from_ip(address)
    eni.private_ip_addresses = [{"Primary": True, "PrivateIpAddress": address, "PrivateDnsName": eni.private_dns_name}]
    attachment["status"] = "PRECREATED"
    for detail in attachment["details"]:
        if detail["name"] == "privateIPv4Address":
            detail["value"] = address
        elif detail["name"] == "privateDnsName":
            detail["value"] = eni.private_dns_name
    task.containers = []
    for container_definition in definition.container_definitions:
        container = ecs.Container(definition)
        container.container_arn = (
            f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:container/{cluster.name}/{task.id}/{mock_random.uuid4()}"
        )
        container.task_arn = task.task_arn
        container.name = container_definition.get("name")
        container.image = container_definition.get("image")
        container.cpu = str(container_definition.get("cpu", 0))
        container.memory = container_definition.get("memory")
        container.exitCode = None
        container.health_status = "UNKNOWN"
        container.network_interfaces = [{"attachmentId": attachment["id"], "privateIpv4Address": address}]
        task.containers.append(container)
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    add_service_event(service, f"(service {service.name}) has started 1 tasks: (task {task.id}).")
    refresh_counts(backend, service)
    return {"taskArn": task.task_arn}


CONTAINER_FIELDS = {"lastStatus": "last_status", "exitCode": "exitCode", "reason": "reason", "healthStatus": "health_status", "runtimeId": "runtime_id", "imageDigest": "image_digest"}


def record_task_state(backend, body):
    """The data plane reports a task's state, as ECS's agent does."""
    cluster = backend._get_cluster(body["cluster"])
    task = next(t for arn, t in backend.tasks.get(cluster.name, {}).items() if arn.endswith(body["task"].split("/")[-1]))
    now = utcnow()
    status = body.get("lastStatus")
    for name, change in (body.get("containers") or {}).items():
        for container in task.containers:
            if container.name == name:
                for field, attribute in CONTAINER_FIELDS.items():
                    if field in change:
                        setattr(container, attribute, change[field])
    if "healthStatus" in body:
        task.health_status = body["healthStatus"]
    if body.get("steady"):
        task.steady = True
    if body.get("pullStarted"):
        task.pull_started_at = now
    if body.get("pullStopped"):
        task.pull_stopped_at = now
    if body.get("desiredStatus") == "STOPPED" and task.desired_status != "STOPPED":
        task.desired_status = "STOPPED"
        task.stopping_at = now
    # A stop the user asked for keeps its code and reason.
    if body.get("stopCode") and not getattr(task, "stop_code", None):
        task.stop_code = body["stopCode"]
        task.stopped_reason = body.get("stoppedReason", "")
    attachment = task.attachments[0] if task.attachments else None
    if status and status != task.last_status:
        task.last_status = status
        task.version = getattr(task, "version", 0) + 1
        if status == "PENDING" and attachment:
            attachment["status"] = "ATTACHED"
        elif status == "RUNNING":
            task.started_at = now
        elif status == "STOPPED":
            task.desired_status = "STOPPED"
            task.stopping_at = getattr(task, "stopping_at", None) or now
            task.execution_stopped_at = now
            task.stopped_at = now
            if attachment:
                attachment["status"] = "DELETED"
                eni_id = next((d["value"] for d in attachment["details"] if d["name"] == "networkInterfaceId"), None)
                ec2_backends[backend.account_id][backend.region_name].enis.pop(eni_id, None)
    service = next((s for s in backend.services.values() if s.cluster_name == cluster.name and task.group == f"service:{s.name}"), None)
    if service is not None:
        if status == "STOPPED" and body.get("failed"):
            count_failed_task(service, task)
        refresh_counts(backend, service)
    return {"lastStatus": task.last_status, "desiredStatus": task.desired_status}


def record_service_event(backend, body):
    service = backend._get_service(body["cluster"], body["service"])
    add_service_event(service, body["message"])
    return {}


LOCAL_ECS_ENDPOINTS = {
    "{0}/moto-api/isokit/ecs/start-task": local_ecs_endpoint(record_started_task),
    "{0}/moto-api/isokit/ecs/task-state": local_ecs_endpoint(record_task_state),
    "{0}/moto-api/isokit/ecs/service-event": local_ecs_endpoint(record_service_event),
}

# The originals the ECS patches call through to.
ORIGINAL = {
    "stop_task": ecs.EC2ContainerServiceBackend.stop_task,
    "list_tasks": ecs.EC2ContainerServiceBackend.list_tasks,
    "update_service": ecs.EC2ContainerServiceBackend.update_service,
}


# sha256 of the source of each function replaced or wrapped below, as in moto 5.2.5.
REPLACED_SOURCE = {
    "TaskDefinition.create_from_cloudformation_json": "c7d16c368dc583db4cbcbf51a40f84ede7d5b3f3e2018e7c74fb412447757903",
    "TaskDefinition.update_from_cloudformation_json": "da835757251d83893015d18deb10adfcd24b588a96501f1e6d94e5eb95e5ffc1",
    "Service.create_from_cloudformation_json": "f6c77f48b9aa358c85fa10bfcda7f059ae5d5e4b0da14c0e05f704d8c4889c50",
    "Service.update_from_cloudformation_json": "5ca738671f52057300cfd38c6e74847b76a78a8380c45c052b18b4a3748d3be4",
    "Task.last_status getter": "b61e4391e13dc400678b052b276160da86d8bc083379c82b4daf078b8c6522fc",
    "Task.last_status setter": "223406b816b1e47f15e628a6000532a54f8df209b7f47255f5dfd2cf49ca664a",
    "EC2ContainerServiceBackend.stop_task": "a654973f4a4d4ec992d8933f27dad3412a3a22cb524d146ce9bb368d18641975",
    "EC2ContainerServiceBackend.list_tasks": "05b36e0ec5c9c5a37c9b3cab46635ac22bfb3aeee45faabeed8f805e543b0cf4",
    "EC2ContainerServiceBackend.update_service": "67910723b60aecfb7134999e637f3ef6f853691d192ab9655cb706b3806d1686",
}


def patch():
    if "delete" in vars(ecs.Service):
        refuse("moto's ECS Service now has delete; review the stack-deletion patch")
    check_replaced_source(REPLACED_SOURCE, ecs.TaskDefinition.create_from_cloudformation_json)
    check_replaced_source(REPLACED_SOURCE, ecs.TaskDefinition.update_from_cloudformation_json)
    check_replaced_source(REPLACED_SOURCE, ecs.Service.create_from_cloudformation_json)
    check_replaced_source(REPLACED_SOURCE, ecs.Service.update_from_cloudformation_json)
    check_replaced_source(REPLACED_SOURCE, ecs.Task.last_status.fget, "Task.last_status getter")
    check_replaced_source(REPLACED_SOURCE, ecs.Task.last_status.fset, "Task.last_status setter")
    for name in ORIGINAL:
        check_replaced_source(REPLACED_SOURCE, ORIGINAL[name])
    if any(path in moto_api_urls.url_paths for path in LOCAL_ECS_ENDPOINTS):
        refuse("moto already serves a /moto-api/isokit/ path; review the local ECS endpoints")
    ecs.TaskDefinition.create_from_cloudformation_json = classmethod(create_task_definition_from_cloudformation)
    ecs.TaskDefinition.update_from_cloudformation_json = classmethod(update_task_definition_from_cloudformation)
    ecs.Service.create_from_cloudformation_json = classmethod(create_service_from_cloudformation)
    ecs.Service.update_from_cloudformation_json = classmethod(update_service_from_cloudformation)
    ecs.Service.delete = delete_service_with_stack
    ecs.Task.last_status = property(task_last_status, set_task_last_status)
    ecs.EC2ContainerServiceBackend.stop_task = stop_task_as_ecs_does
    ecs.EC2ContainerServiceBackend.list_tasks = list_tasks_of_service
    ecs.EC2ContainerServiceBackend.update_service = update_service_with_deployments
    moto_api_urls.url_paths.update(LOCAL_ECS_ENDPOINTS)

