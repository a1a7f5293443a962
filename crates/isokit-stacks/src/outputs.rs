//! The parent stack's outputs that isokit reads back from a deployed
//! stack (`isokit rehearse`, `status`, `logs`, the deploy's watch): named
//! here once, and checked against `stacks/parent.yml`.

pub const VPC_CIDR: &str = "VpcCidr";
/// The private subnets' ranges, comma-separated.
pub const PRIVATE_SUBNET_CIDRS: &str = "PrivateSubnetCidrs";
/// The endpoint services the VPC stack created, comma-separated.
pub const ENDPOINTS: &str = "Endpoints";
pub const CLUSTER_NAME: &str = "ClusterName";
pub const SERVICE_NAME: &str = "ServiceName";
pub const LOG_GROUP_NAME: &str = "LogGroupName";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StackSet, TemplateFile};

    #[test]
    fn the_bundled_parent_declares_every_output_isokit_reads() {
        let parent = StackSet::bundled()
            .template(TemplateFile::Parent)
            .expect("the bundled parent parses");
        for name in [
            VPC_CIDR,
            PRIVATE_SUBNET_CIDRS,
            ENDPOINTS,
            CLUSTER_NAME,
            SERVICE_NAME,
            LOG_GROUP_NAME,
        ] {
            assert!(
                parent.output(name).is_some(),
                "parent.yml has no output {name}"
            );
        }
    }
}
