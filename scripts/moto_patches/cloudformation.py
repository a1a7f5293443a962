"""CloudFormation mended so that `sam deploy` of nested stacks, and its
failures, go as in AWS (patches 1 to 5 in scripts/moto-server.py's list)."""

import contextvars
import logging

from moto.cloudformation import models, parsing, responses
from moto.core.responses import ActionResult
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

from moto_patches import check_replaced_source, refuse

log = logging.getLogger("moto-server")


def nested_stack_attribute(stack, attribute_name):
    prefix = "Outputs."
    if not attribute_name.startswith(prefix):
        raise UnformattedGetAttTemplateException()
    key = attribute_name[len(prefix):]
    if key not in stack.output_map.outputs:
        raise UnformattedGetAttTemplateException()
    output = stack.output_map[key]
    if output is None:
        raise UnformattedGetAttTemplateException()
    return output.value


def apply_change_set_and_refresh_outputs(change_set):
    change_set.stack.resource_map.update(change_set.template_dict, change_set.parameters)
    stack = change_set.stack
    stack.template = change_set.template
    stack.parameters = change_set.parameters
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.output_map = stack._create_output_map()


def same_effective_parameters(stack, other_parameters):
    declared = (stack.template_dict or {}).get("Parameters") or {}

    def effective(given):
        return {name: str(given.get(name, spec.get("Default"))) for name, spec in declared.items()}

    return effective(stack.parameters) == effective(other_parameters)


# ---------------------------------------------------------------- resource events and rollback

NESTED_STACK = "AWS::CloudFormation::Stack"

# True while a nested stack is being made (created, or replaced by moto's
# update of it), so that its failure reaches the resource that stands for it
# in the parent stack instead of ending in the nested stack.
making_nested_stack = contextvars.ContextVar("making_nested_stack", default=False)

# What CloudFormation writes for a resource whose change was under way when
# another one failed (moto makes a resource's references on the way to it).
CANCELLED = {"CREATE_FAILED": "Resource creation cancelled", "UPDATE_FAILED": "Resource update cancelled"}


def failed_to(verb, logical_ids):
    return f"The following resource(s) failed to {verb}: [{', '.join(logical_ids)}]. "


class EmbeddedStackFailed(Exception):
    """A nested stack that failed and rolled back, in CloudFormation's words
    for its resource in the parent stack."""

    def __init__(self, stack_id, failed):
        self.stack_id = stack_id
        super().__init__(f"Embedded stack {stack_id} was not successfully created: {failed_to('create', failed)}")


def stack_of(resource_map):
    # The backend lets go of a stack before deleting it (delete_stack_with_events).
    deleting = getattr(resource_map, "stack_being_deleted", None)
    if deleting is not None:
        return deleting
    backend = models.cloudformation_backends[resource_map._account_id][resource_map._region_name]
    return backend.stacks.get(resource_map.stack_id)


def is_own(stack, event):
    """An event of the stack itself, not of one of its resources."""
    return event.physical_resource_id == stack.stack_id and event.logical_resource_id == stack.name


def record(stack, logical_id, resource_type, status, physical_id=None, reason=None):
    if stack is None:
        return
    event = models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id,
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def last_event(stack, logical_id):
    if stack is None:
        return None
    return next(
        (event for event in reversed(stack.events) if event.logical_resource_id == logical_id and not is_own(stack, event)),
        None,
    )


def physical_id(resource):
    if isinstance(resource, models.Stack):
        return resource.stack_id
    return getattr(resource, "physical_resource_id", None)


def reason_of(error):
    return getattr(error, "message", None) or str(error) or type(error).__name__


# moto tries a failed update or deletion again in later passes (in case
# another resource had to change first) and gives up only after its last:
# each resource's latest error is kept for the event that says it failed.
def remember_failure(resource_map, logical_id, error):
    vars(resource_map).setdefault("isokit_failures", {})[logical_id] = error


def remembered_failure(resource_map, logical_id):
    return vars(resource_map).get("isokit_failures", {}).get(logical_id)


def record_failure(stack, logical_id, resource_type, status, error, physical_id=None):
    if hasattr(error, "failed_resource"):
        # Another resource failed on the way to this one and carries the reason.
        record(stack, logical_id, resource_type, status, physical_id, CANCELLED.get(status))
        return
    if isinstance(error, EmbeddedStackFailed):
        physical_id = error.stack_id
    error.failed_resource = logical_id
    record(stack, logical_id, resource_type, status, physical_id, reason_of(error))


def create_resource_with_events(logical_id, resource_json, resource_map, account_id, region_name):
    """CREATE_IN_PROGRESS, then CREATE_COMPLETE with the physical ID, or
    CREATE_FAILED with the reason."""
    create = ORIGINAL["parsing.parse_and_create_resource"]
    condition = resource_json.get("Condition")
    resource_type = resource_json["Type"]
    if (condition and not resource_map.lazy_condition_map[condition]) or not parsing.resource_class_from_type(resource_type):
        # Not made: its condition is false, or moto skips its type.
        return create(logical_id, resource_json, resource_map, account_id, region_name)
    stack = stack_of(resource_map)
    record(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    making = making_nested_stack.set(resource_type == NESTED_STACK)
    try:
        resource = create(logical_id, resource_json, resource_map, account_id, region_name)
    except Exception as error:
        record_failure(stack, logical_id, resource_type, "CREATE_FAILED", error)
        raise
    finally:
        making_nested_stack.reset(making)
    record(stack, logical_id, resource_type, "CREATE_COMPLETE", physical_id(resource))
    return resource


def update_resource_with_events(logical_id, resource_json, resource_map, account_id, region_name):
    """UPDATE_IN_PROGRESS once, however many passes moto makes, then
    UPDATE_COMPLETE. A failure is written by the rollback, after moto's
    last pass (roll_back_update)."""
    update = ORIGINAL["parsing.parse_and_update_resource"]
    stack = stack_of(resource_map)
    resource_type = resource_json["Type"]
    original = resource_map._parsed_resources.get(logical_id)
    started = last_event(stack, logical_id)
    if started is not None and started.resource_status == "UPDATE_IN_PROGRESS":
        failure = remembered_failure(resource_map, logical_id)
        if isinstance(failure, EmbeddedStackFailed):
            # moto updates a nested stack by replacing it: another pass
            # would only make one more that fails the same way.
            raise failure
    else:
        record(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS", physical_id(original))
    making = making_nested_stack.set(resource_type == NESTED_STACK)
    try:
        resource = update(logical_id, resource_json, resource_map, account_id, region_name)
    except Exception as error:
        remember_failure(resource_map, logical_id, error)
        raise
    finally:
        making_nested_stack.reset(making)
    # None: moto cannot update the type, and drops it from the stack unchanged.
    record(stack, logical_id, resource_type, "UPDATE_COMPLETE", physical_id(resource if resource is not None else original))
    return resource


def delete_resource_with_events(resource_map, parsed_resource, resource_json):
    """DELETE_IN_PROGRESS once, however many passes moto makes, then
    DELETE_COMPLETE. A failure is written after moto's last pass
    (delete_resources_with_events)."""
    delete = ORIGINAL["ResourceMap._delete_resource"]
    logical_id = getattr(parsed_resource, "logical_resource_id", None)
    if logical_id is None:
        return delete(resource_map, parsed_resource, resource_json)
    stack = stack_of(resource_map)
    started = last_event(stack, logical_id)
    if started is None or started.resource_status != "DELETE_IN_PROGRESS":
        record(stack, logical_id, resource_json["Type"], "DELETE_IN_PROGRESS", physical_id(parsed_resource))
    try:
        delete(resource_map, parsed_resource, resource_json)
    except Exception as error:
        remember_failure(resource_map, logical_id, error)
        raise
    record(stack, logical_id, resource_json["Type"], "DELETE_COMPLETE", physical_id(parsed_resource))


def delete_resources_with_events(resource_map):
    # moto skips a resource whose DeletionPolicy is Retain without a word;
    # CloudFormation writes DELETE_SKIPPED, and the resource stays listed.
    stack = stack_of(resource_map)
    for logical_id, resource_json in resource_map._resource_json_map.items():
        resource = resource_map._parsed_resources.get(logical_id)
        if resource_json.get("DeletionPolicy") == "Retain" and resource is not None:
            record(stack, logical_id, resource_json["Type"], "DELETE_SKIPPED", physical_id(resource))
    try:
        ORIGINAL["ResourceMap.delete"](resource_map)
    except Exception:
        stack = stack_of(resource_map)
        for logical_id in list(resource_map._parsed_resources):
            started = last_event(stack, logical_id)
            if started is not None and started.resource_status == "DELETE_IN_PROGRESS":
                error = remembered_failure(resource_map, logical_id)
                record(
                    stack, logical_id, started.resource_type, "DELETE_FAILED", started.physical_resource_id, reason_of(error)
                )
        raise
    finally:
        keep_only_what_exists(resource_map)


def keep_only_what_exists(resource_map):
    """moto makes a resource the first time its map is asked for it
    (ListStackResources, an output that names it): once resources are
    deleted, or were never made, the map no longer knows them, so that
    nothing brings them back."""
    resource_map._resource_json_map = {
        logical_id: resource_json
        for logical_id, resource_json in resource_map._resource_json_map.items()
        if logical_id in resource_map._parsed_resources
    }


# A stack whose resources were deleted: by a rollback, or with it.
RESOURCES_GONE = {"ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_IN_PROGRESS", "DELETE_COMPLETE", "DELETE_FAILED"}


def list_stack_resources_as_cloudformation_does(response):
    """For a stack whose resources were deleted (rolled back, or deleted:
    CloudFormation still lists those for 90 days), every resource it had,
    with its last status and physical ID,
    read from its events: DELETE_COMPLETE, or DELETE_SKIPPED for one kept by
    a Retain policy, which is how its ID is found again. moto lists only the
    resources its map still holds (none, once deleted), each as
    CREATE_COMPLETE; for a live stack that is kept."""
    stack = response.cloudformation_backend.get_stack(response._get_param("StackName"))
    if stack.status not in RESOURCES_GONE:
        return ORIGINAL["CloudFormationResponse.list_stack_resources"](response)
    latest = {}
    for event in stack.events:
        if not is_own(stack, event):
            latest[event.logical_resource_id] = event
    summaries = [
        {
            "ResourceStatus": event.resource_status,
            "LogicalResourceId": logical_id,
            "LastUpdatedTimestamp": event.timestamp,
            "PhysicalResourceId": event.physical_resource_id or "",
            "ResourceType": event.resource_type,
        }
        for logical_id, event in latest.items()
    ]
    return ActionResult({"StackResourceSummaries": summaries})


def drop_outputs(stack):
    # What they named is gone.
    stack.output_map = parsing.OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)


def delete_stack_with_events(stack):
    # The backend lets go of a stack before deleting it: its resource map is
    # told which stack it is, so that its resources' events reach it.
    stack.resource_map.stack_being_deleted = stack
    try:
        ORIGINAL["Stack.delete"](stack)
    finally:
        drop_outputs(stack)


def failed_resources(stack, since, status):
    return [
        event.logical_resource_id
        for event in stack.events[since:]
        if event.resource_status == status and not is_own(stack, event)
    ]


def roll_back_creation(stack, since, error):
    """ROLLBACK_IN_PROGRESS naming the resources that failed, what was made
    deleted (a nested stack that failed too), then ROLLBACK_COMPLETE, or
    ROLLBACK_FAILED naming what could not be deleted."""
    failed = failed_resources(stack, since, "CREATE_FAILED")
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=(failed_to("create", failed) if failed else f"{reason_of(error)} ")
        + "Rollback requested by user.",
    )
    drop_outputs(stack)
    try:
        stack.resource_map.delete()
        delete_failed_nested_stacks(stack, since)
    except Exception as deletion:
        log.warning("rollback of stack %s failed", stack.name, exc_info=deletion)
        stack.status = "ROLLBACK_FAILED"
        stack._add_stack_event(
            "ROLLBACK_FAILED",
            resource_status_reason=failed_to("delete", failed_resources(stack, since, "DELETE_FAILED")),
        )
        return failed
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    return failed


def delete_failed_nested_stacks(stack, since):
    """A nested stack that failed (created, or made by moto to replace one
    in an update) is not among the resources moto made, but it exists,
    rolled back: CloudFormation deletes it with the rest."""
    backend = models.cloudformation_backends[stack.account_id][stack.region_name]
    for event in stack.events[since:]:
        if (
            event.resource_status in ("CREATE_FAILED", "UPDATE_FAILED")
            and event.resource_type == NESTED_STACK
            and event.physical_resource_id in backend.stacks
            and backend.stacks[event.physical_resource_id].status.startswith("ROLLBACK_")
        ):
            record(stack, event.logical_resource_id, NESTED_STACK, "DELETE_IN_PROGRESS", event.physical_resource_id)
            try:
                backend.delete_stack(event.physical_resource_id)
            except Exception as error:
                record(stack, event.logical_resource_id, NESTED_STACK, "DELETE_FAILED", event.physical_resource_id, reason_of(error))
                raise
            record(stack, event.logical_resource_id, NESTED_STACK, "DELETE_COMPLETE", event.physical_resource_id)


def roll_back_update(stack, since, error):
    """Each resource still in progress failed (the one moto gave up on with
    its reason), then UPDATE_ROLLBACK_IN_PROGRESS naming them, a nested
    stack that failed deleted, and UPDATE_ROLLBACK_COMPLETE (or
    UPDATE_ROLLBACK_FAILED). Nothing is restored: see patch 5."""
    resource_map = stack.resource_map
    unfinished = {}
    for event in stack.events[since:]:
        if not is_own(stack, event):
            unfinished[event.logical_resource_id] = event
    for logical_id, started in unfinished.items():
        if started.resource_status.endswith("_IN_PROGRESS"):
            status = started.resource_status.replace("_IN_PROGRESS", "_FAILED")
            failure = remembered_failure(resource_map, logical_id) or error
            record_failure(stack, logical_id, started.resource_type, status, failure, started.physical_resource_id)
    keep_only_what_exists(resource_map)
    reason = "".join(
        failed_to(verb, failed)
        for verb, failed in (
            ("update", failed_resources(stack, since, "UPDATE_FAILED")),
            ("create", failed_resources(stack, since, "CREATE_FAILED")),
            ("delete", failed_resources(stack, since, "DELETE_FAILED")),
        )
        if failed
    )
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason or reason_of(error))
    try:
        delete_failed_nested_stacks(stack, since)
    except Exception as deletion:
        log.warning("rollback of stack %s failed", stack.name, exc_info=deletion)
        stack.status = "UPDATE_ROLLBACK_FAILED"
        stack._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=reason_of(deletion))
        return
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")


def create_resources_or_roll_back(stack):
    """A stack made by CreateStack, or nested: it rolls back when a resource
    fails, and a nested one then fails its resource in the parent."""
    since = len(stack.events)
    nested = making_nested_stack.get()
    try:
        ORIGINAL["Stack.create_resources"](stack)
    except Exception as error:
        failed = roll_back_creation(stack, since, error)
        if nested:
            raise EmbeddedStackFailed(stack.stack_id, failed) from error


def execute_change_set_or_roll_back(backend, change_set_name, stack_name=None):
    """CloudFormation accepts the execution, then fails and rolls back as it
    goes; moto's ExecuteChangeSet fails itself instead, and leaves the stack
    where it was (REVIEW_IN_PROGRESS for a new one) with no event naming why."""
    execute = ORIGINAL["CloudFormationBackend.execute_change_set"]
    change_set = backend.change_sets.get(change_set_name) or next(
        (cs for cs in backend.change_sets.values() if cs.change_set_name == change_set_name), None
    )
    if change_set is None:
        return execute(backend, change_set_name, stack_name)
    stack = backend.stacks[change_set.stack_id]
    since = len(stack.events)
    try:
        return execute(backend, change_set_name, stack_name)
    except Exception as error:
        log.warning("change set %s of stack %s failed; rolling back", change_set.change_set_name, stack.name, exc_info=error)
        if change_set.change_set_type == "CREATE":
            roll_back_creation(stack, since, error)
        else:
            roll_back_update(stack, since, error)
        change_set.execution_status = "EXECUTE_FAILED"


# The originals the patches above call through to.
ORIGINAL = {
    "parsing.parse_and_create_resource": parsing.parse_and_create_resource,
    "parsing.parse_and_update_resource": parsing.parse_and_update_resource,
    "ResourceMap._delete_resource": parsing.ResourceMap._delete_resource,
    "ResourceMap.delete": parsing.ResourceMap.delete,
    "Stack.create_resources": models.Stack.create_resources,
    "Stack.delete": models.Stack.delete,
    "CloudFormationBackend.execute_change_set": models.CloudFormationBackend.execute_change_set,
    "CloudFormationResponse.list_stack_resources": responses.CloudFormationResponse.list_stack_resources,
}


# sha256 of the source of each function replaced or wrapped here, as in moto 5.2.5.
REPLACED_SOURCE = {
    "ChangeSet.apply": "1644afa9d35ce8934a91ca2eea6977f8fe5e3811f8bc9b78ce235a1edf3c63ec",
    "Stack.has_parameters": "abc7b22ef33173be5b5fd1a2c951d1bcb8d061d13371a98522c05df36f82e5a0",
    "parsing.parse_and_create_resource": "ea3c10d68d2c03e6abde0de40aa57d2169c2fe7ce5dad71fda0dc5602da13463",
    "parsing.parse_and_update_resource": "2ef032cfb9ed3c9bac0abc5c07ee0adf20fbe813d829d6d9bf96e5c39026ecd5",
    "ResourceMap._delete_resource": "b1551ce18f4eedc20294b22c80160e7d8606cdc0daeeb38c6854899046af1144",
    "ResourceMap.delete": "4faca03385e54f6320acceeb2a3edfb44956cf30dd1a20cce8b31b75be8ca72e",
    "Stack.create_resources": "a5f30450448a1d58ba3ffe05b0a545b8efa86633b47cfb0c8c4a2b269d447655",
    "Stack.delete": "bf0c199611d254b6c2826d45d91ce44101625ab78696218e6949279eb32c17f9",
    "CloudFormationBackend.execute_change_set": "1090cb5b81abc8ff0422a9c1df9b0ea09192550345fbc198b448e9e9a148a050",
    "CloudFormationResponse.list_stack_resources": "fcc4b4296d4f9e58a1262df06ad8798062fd988847464be2bc5f4c3c401184bb",
}


def patch():
    if "get_cfn_attribute" in vars(models.Stack):
        refuse("moto's Stack now has get_cfn_attribute; review the nested-output patch")
    if not hasattr(models.Stack, "_create_output_map"):
        refuse("moto's Stack has no _create_output_map; review the change-set patch")
    check_replaced_source(REPLACED_SOURCE, models.ChangeSet.apply)
    check_replaced_source(REPLACED_SOURCE, models.Stack.has_parameters)
    for name, original in ORIGINAL.items():
        check_replaced_source(REPLACED_SOURCE, original, name)
    models.Stack.get_cfn_attribute = nested_stack_attribute
    models.ChangeSet.apply = apply_change_set_and_refresh_outputs
    models.Stack.has_parameters = same_effective_parameters
    # ResourceMap looks these two up in its module when it makes and updates resources.
    parsing.parse_and_create_resource = create_resource_with_events
    parsing.parse_and_update_resource = update_resource_with_events
    parsing.ResourceMap._delete_resource = delete_resource_with_events
    parsing.ResourceMap.delete = delete_resources_with_events
    models.Stack.create_resources = create_resources_or_roll_back
    models.Stack.delete = delete_stack_with_events
    models.CloudFormationBackend.execute_change_set = execute_change_set_or_roll_back
    responses.CloudFormationResponse.list_stack_resources = list_stack_resources_as_cloudformation_does
