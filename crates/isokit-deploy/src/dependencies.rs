//! Riding out `DependencyViolation` in a teardown. A VPC's subnets and
//! security groups cannot be deleted while network interfaces are in them,
//! and AWS releases the interfaces of interface endpoints and of stopped
//! tasks minutes after those are deleted: a stack deletion that comes too
//! soon fails on them, and succeeds when tried again later.

use std::time::Duration;

use isokit_aws::FirstFailure;

/// The pauses before each further deletion, about ten minutes in all: long
/// enough for AWS to release interfaces, short enough that a dependency
/// that will never go (something of the user's in the VPC) is reported.
pub(crate) const PAUSES: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(180),
    Duration::from_secs(240),
];

/// Whether the deletion failed because something still used a resource:
/// EC2's `DependencyViolation`, in the words CloudFormation's events give
/// it ("The subnet 'subnet-…' has dependencies and cannot be deleted.",
/// "resource sg-… has a dependent object").
pub(crate) fn blocked_by_dependencies(failure: Option<&FirstFailure>) -> bool {
    failure
        .and_then(|failure| failure.0.event.reason.as_deref())
        .is_some_and(|reason| {
            reason.contains("DependencyViolation")
                || reason.contains("has dependencies")
                || reason.contains("has a dependent object")
        })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use isokit_aws::{ResourceEvent, StackEvent};

    use super::*;

    fn failure(reason: &str) -> FirstFailure {
        FirstFailure(ResourceEvent {
            nesting: vec!["VpcStack".to_owned()],
            event: StackEvent {
                id: "1".to_owned(),
                stack_id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/s-VpcStack/1"
                    .to_owned(),
                stack_name: "s-VpcStack".to_owned(),
                logical_id: "PrivateSubnetOne".to_owned(),
                physical_id: Some("subnet-0f3e6b1a".to_owned()),
                resource_type: "AWS::EC2::Subnet".to_owned(),
                status: "DELETE_FAILED".to_owned(),
                reason: Some(reason.to_owned()),
                timestamp: SystemTime::UNIX_EPOCH,
            },
        })
    }

    #[test]
    fn interfaces_still_in_the_vpc_are_waited_for_and_other_failures_are_not() {
        for reason in [
            "The subnet 'subnet-0f3e6b1a' has dependencies and cannot be deleted. (Service: Ec2, \
             Status Code: 400, Request ID: 5c9f1e2a)",
            "resource sg-0a1b2c3d has a dependent object (Service: Ec2, Status Code: 400, \
             Request ID: 7d3e)",
            "Resource handler returned message: \"Network interface is in use\" \
             (HandlerErrorCode: DependencyViolation)",
        ] {
            assert!(blocked_by_dependencies(Some(&failure(reason))), "{reason}");
        }
        assert!(!blocked_by_dependencies(Some(&failure(
            "User: arn:aws:iam::123456789012:user/n is not authorized to perform: \
             ec2:DeleteSubnet"
        ))));
        assert!(!blocked_by_dependencies(None));
    }
}
