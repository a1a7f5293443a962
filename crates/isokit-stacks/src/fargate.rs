//! Fargate's task sizes, the Availability Zones it runs in where AWS limits
//! them, and the service's task count, checked before SAM runs so a bad
//! value fails in a second rather than after a stack rollback.

use std::ops::RangeInclusive;

use crate::Error;

/// The CPU sizes Fargate offers (Linux), in CPU units (1024 = one vCPU).
pub const FARGATE_CPU_UNITS: [u32; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

/// The task counts the parent template accepts (its `DesiredCount`
/// `MinValue` and `MaxValue`): at least one task, so a deployment proves the
/// image starts; at most 100, a guard against a mistyped count.
pub const DESIRED_COUNT: RangeInclusive<u32> = 1..=100;

/// The regions where AWS documents that Linux tasks on Fargate run only in
/// some Availability Zones, with those zones' IDs (the same zone in every
/// account, unlike its name). Source: "Supported Regions for Amazon ECS on
/// AWS Fargate", Linux containers
/// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate-Regions.html#linux-regions),
/// which notes the zone IDs "when applicable"; every other region it lists
/// runs Fargate in all of its zones.
const FARGATE_ZONE_IDS: [(&str, &[&str]); 3] = [
    ("us-west-1", &["usw1-az1", "usw1-az3"]),
    ("ap-northeast-1", &["apne1-az1", "apne1-az2", "apne1-az4"]),
    ("cn-north-1", &["cnn1-az1", "cnn1-az2"]),
];

/// The zone IDs Fargate runs in, in a region where AWS documents a list;
/// `None` where it runs in every zone.
pub fn fargate_zone_ids(region: &str) -> Option<&'static [&'static str]> {
    FARGATE_ZONE_IDS
        .iter()
        .find(|(listed, _)| *listed == region)
        .map(|(_, ids)| *ids)
}

/// The memory sizes, in MiB, that Fargate pairs with `cpu` units, or `None`
/// when Fargate has no such CPU size.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let stepped = |from: u32, to: u32, step: usize| (from..=to).step_by(step).collect();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => stepped(1024, 4096, 1024),
        1024 => stepped(2048, 8192, 1024),
        2048 => stepped(4096, 16384, 1024),
        4096 => stepped(8192, 30720, 1024),
        8192 => stepped(16384, 61440, 4096),
        16384 => stepped(32768, 122880, 8192),
        _ => return None,
    })
}

/// Checks a CPU and memory pair against Fargate's table.
pub fn validate_task_size(cpu: u32, memory_mib: u32) -> Result<(), Error> {
    let valid = fargate_memory_options(cpu).ok_or(Error::InvalidCpu { cpu })?;
    if valid.contains(&memory_mib) {
        Ok(())
    } else {
        Err(Error::InvalidMemory {
            cpu,
            memory_mib,
            valid,
        })
    }
}

pub fn validate_desired_count(count: u32) -> Result<(), Error> {
    if DESIRED_COUNT.contains(&count) {
        Ok(())
    } else {
        Err(Error::InvalidDesiredCount { count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack_set::{StackSet, TemplateFile};
    use crate::template::Node;

    #[test]
    fn accepts_every_pair_in_the_table_and_the_seed_default() {
        validate_task_size(256, 512).expect("the template's default");
        for cpu in FARGATE_CPU_UNITS {
            let options = fargate_memory_options(cpu).expect("a Fargate size");
            for memory in options {
                validate_task_size(cpu, memory).expect("listed pair");
            }
        }
        assert_eq!(fargate_memory_options(4096).map(|o| o.len()), Some(23));
        assert_eq!(
            fargate_memory_options(16384).and_then(|o| o.last().copied()),
            Some(122880)
        );
    }

    #[test]
    fn a_bad_memory_size_lists_the_valid_ones() {
        let message = validate_task_size(256, 4096)
            .expect_err("too much memory")
            .to_string();
        assert!(
            message.contains("256 CPU units") && message.contains("4096 MiB"),
            "{message}"
        );
        assert!(message.contains("512, 1024, 2048"), "{message}");
        assert!(
            validate_task_size(8192, 18432).is_err(),
            "8 vCPU memory moves in 4 GiB steps"
        );
    }

    #[test]
    fn a_bad_cpu_size_lists_the_valid_ones() {
        let message = validate_task_size(300, 512)
            .expect_err("no such size")
            .to_string();
        assert!(
            message.contains("300") && message.contains("256, 512, 1024, 2048, 4096, 8192, 16384"),
            "{message}"
        );
    }

    #[test]
    fn desired_count_bounds() {
        validate_desired_count(1).expect("one");
        validate_desired_count(100).expect("hundred");
        for bad in [0, 101] {
            let message = validate_desired_count(bad)
                .expect_err("out of range")
                .to_string();
            assert!(
                message.contains(&bad.to_string()) && message.contains("1 to 100"),
                "{message}"
            );
        }
    }

    /// The parent template declares the same sizes and bounds, so CloudFormation
    /// and isokit never disagree about what is valid.
    #[test]
    fn the_parent_template_agrees() {
        let parent = StackSet::bundled()
            .template(TemplateFile::Parent)
            .expect("parent parses");
        let parameter = |name| parent.parameter(name).expect(name);
        let cpus: Vec<String> = parameter("ContainerCpu")
            .get("AllowedValues")
            .and_then(Node::as_list)
            .expect("ContainerCpu AllowedValues")
            .iter()
            .filter_map(Node::as_text)
            .collect();
        assert_eq!(cpus, FARGATE_CPU_UNITS.map(|cpu| cpu.to_string()));
        let count = parameter("DesiredCount");
        assert_eq!(
            count.get("MinValue").and_then(Node::as_text),
            Some(DESIRED_COUNT.start().to_string())
        );
        assert_eq!(
            count.get("MaxValue").and_then(Node::as_text),
            Some(DESIRED_COUNT.end().to_string())
        );
        let memory = parameter("ContainerMemory");
        let all_memory: Vec<u32> = FARGATE_CPU_UNITS
            .iter()
            .filter_map(|cpu| fargate_memory_options(*cpu))
            .flatten()
            .collect();
        assert_eq!(
            memory.get("MinValue").and_then(Node::as_text),
            all_memory.iter().min().map(u32::to_string)
        );
        assert_eq!(
            memory.get("MaxValue").and_then(Node::as_text),
            all_memory.iter().max().map(u32::to_string)
        );
    }
}
