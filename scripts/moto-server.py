"""Start moto as the local AWS API, with its CloudFormation and ECS gaps mended.

scripts/local-aws runs this with the virtualenv's Python. The patches live
beside it, one module per service, in scripts/moto_patches/.

CloudFormation (moto_patches/cloudformation.py): `sam deploy` of nested
stacks goes, and fails, as it does in CloudFormation.

1. `Fn::GetAtt Child.Outputs.X` on an `AWS::CloudFormation::Stack` resource:
   moto's nested Stack model has no `get_cfn_attribute`, so the parent stack
   fails to resolve its children's outputs. We read `Outputs.X` from the child's
   output map.
2. Stacks created or updated through a change set (which is how SAM deploys)
   never get Outputs: `ChangeSet.apply` updates the resources but not the
   stack's template, so its output map stays the empty one of the placeholder
   stack. We rebuild the template, parameters and output map after applying.
3. A redeploy with nothing changed must yield an empty change set (SAM then
   says "No changes to deploy"). moto compares the parameters as sent, but
   SAM sends `UsePreviousValue` for parameters it did not set the first time,
   so the same values look different. We compare the effective values, with
   the template's defaults filled in, as CloudFormation does.
4. Stack events for resources: moto writes only a stack's own events. Each
   resource a stack creates, updates or deletes now gets CloudFormation's:
   `CREATE_IN_PROGRESS`, then `CREATE_COMPLETE` with its physical ID (a
   nested stack's: its stack ID) or `CREATE_FAILED` with the reason (the
   message of moto's error, such as "The CIDR '10.1.192.0/18' is invalid.");
   a resource whose creation needed one that failed: "Resource creation
   cancelled". Likewise `UPDATE_*` and `DELETE_*`, written once however many
   passes moto makes over a resource.
5. A failure rolls the stack back. moto's ExecuteChangeSet itself fails when
   a resource fails, leaving the stack where it was (REVIEW_IN_PROGRESS for
   a new one) with no event naming the failure. Now the execution is accepted
   and the stack rolls back as CloudFormation's does:
   - a creation: `ROLLBACK_IN_PROGRESS` "The following resource(s) failed to
     create: [X]. Rollback requested by user.", what was created deleted
     (`DELETE_IN_PROGRESS`, `DELETE_COMPLETE` each), `ROLLBACK_COMPLETE`
     (`ROLLBACK_FAILED` naming what could not be deleted). A nested stack
     rolls back likewise, its resource in the parent fails with "Embedded
     stack <ID> was not successfully created: The following resource(s)
     failed to create: [X]. ", and the parent's rollback deletes it. A stack
     made by CreateStack rolls back the same way.
   - an update: the resources moto gave up on `UPDATE_FAILED` with the
     reason, `UPDATE_ROLLBACK_IN_PROGRESS` naming them,
     `UPDATE_ROLLBACK_COMPLETE`.
   After a deletion or a creation's rollback the stack has no outputs, and
   its resource map holds only the resources left: moto makes a resource
   the first time it is asked for it (ListStackResources, an output naming
   it), and would otherwise bring deleted ones back. ListStackResources on
   such a stack answers as CloudFormation's does, from the events: every
   resource it had with its last status and physical ID, a resource kept by
   `DeletionPolicy: Retain` as `DELETE_SKIPPED` (moto skips it silently),
   which is how a rolled-back stack's log group is found again.
   Limits: an update's rollback restores nothing; only the statuses and
   events say it rolled back. What the update changed, added or removed
   stays so (a nested stack, which moto updates by deleting it and creating
   another, stays deleted, its failed replacement ROLLBACK_COMPLETE), and
   the next change set is compared with the template that failed. A
   creation's rollback deletes what moto can delete: the types it cannot
   (ECS clusters and task definitions, route tables and their associations,
   VPC endpoints) linger, as after any stack deletion, though their events
   say DELETE_COMPLETE. DisableRollback is not honoured. A
   stack deletion that fails leaves the resources moto could not delete
   DELETE_FAILED, and moto then forgets the stack, as it did before. Every
   event is written within the one ExecuteChangeSet call, so a reader sees
   them all at once.

EC2 (moto_patches/ec2.py), for the local ECS:

6. `AWS::EC2::SubnetRouteTableAssociation` is recorded where
   DescribeRouteTables looks (the route table's associations), so that the
   local ECS, like AWS, finds which route table, and so which gateway
   endpoints, a subnet has; `AWS::EC2::VPC` keeps EnableDnsSupport and
   EnableDnsHostnames (moto's network interfaces, a task's among them, need
   the latter for their private DNS name).

ECS (moto_patches/ecs.py) is mended so that scripts/local-ecs.py, the local
ECS data plane, can run the services' tasks and moto can answer about them
as ECS does:

7. `AWS::ECS::TaskDefinition` and `AWS::ECS::Service` from CloudFormation
   keep what moto's own create and update drop (network mode, CPU, roles,
   runtime platform; launch type, network configuration, platform version,
   deployment configuration); a task definition gets a new revision only
   when it changed; deleting the stack deletes the service.
8. A task's lastStatus is what the data plane last reported: moto's own
   progression would walk a RUNNING task to STOPPED as it is described.
9. StopTask on a task the local ECS runs asks it to stop (desiredStatus
   STOPPED, stopCode UserInitiated), as ECS does, instead of marking it
   stopped at once; ListTasks honours serviceName; UpdateService with a new
   task definition starts a new deployment; the service's and deployments'
   running and pending counts are counted from the tasks.
10. Private endpoints under /moto-api/isokit/ecs/ let the local ECS record
    what ECS's agent and scheduler record: a service's task started, a
    task's state changes (with stop code, stopped reason, each container's
    exit code, reason and health), and service events. What DescribeTasks
    and DescribeServices then answer keeps ECS's shapes.

IAM (moto_patches/iam.py):

11. CreateServiceLinkedRole for ecs.amazonaws.com makes AWSServiceRoleForECS,
    as IAM does (moto wrote AWSServiceRoleForecs), so that GetRole finds the
    role isokit deploy creates in an account that lacks it. A second
    creation is refused with EntityAlreadyExists, where IAM answers
    InvalidInput "... has been taken"; isokit takes either as "it exists".

The patches work at two levels at once: patches 4 and 5 wrap how a stack
makes, changes and deletes any resource, and patches 6 and 7 replace how
moto makes particular types, which the former then call.

Before patching, the code each patch replaces is compared with the code it
was written against (moto 5.2.5, by a hash of its source), so a moto upgrade
that changes it fails loudly here instead of deploying wrongly.
"""

import sys

# The patches are imported from beside this script: no bytecode cache
# should be left in the checkout.
sys.dont_write_bytecode = True

from moto import server  # noqa: E402

from moto_patches import cloudformation, ec2, ecs, iam  # noqa: E402

if __name__ == "__main__":
    cloudformation.patch()
    ec2.patch()
    ecs.patch()
    iam.patch()
    server.main(sys.argv[1:])
