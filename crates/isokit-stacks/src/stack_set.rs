//! The four templates: embedded in the binary from `stacks/`, written out for
//! SAM or for customising, or read back from a user's `--stacks-dir`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use isokit_endpoints::Endpoint;
use serde::Serialize;

use crate::Error;
use crate::audit::{AuditReport, EndpointNeed, audit, audit_with, endpoint_needs};
use crate::constraints::{Declaration, is_no_echo};
use crate::endpoints::{active_endpoints, endpoints_of_vpc_template};
use crate::eval::{ParameterValues, Scope, Value, parameters_of};
use crate::template::{Node, Template};

/// One of the four templates that make up a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateFile {
    /// Nests the other three; `sam deploy` starts here.
    Parent,
    IsolatedVpc,
    Cluster,
    PrivateService,
}

impl TemplateFile {
    pub const ALL: [TemplateFile; 4] = [
        TemplateFile::Parent,
        TemplateFile::IsolatedVpc,
        TemplateFile::Cluster,
        TemplateFile::PrivateService,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            TemplateFile::Parent => "parent.yml",
            TemplateFile::IsolatedVpc => "isolated-vpc.yml",
            TemplateFile::Cluster => "cluster.yml",
            TemplateFile::PrivateService => "private-service.yml",
        }
    }

    fn bundled_text(self) -> &'static str {
        match self {
            TemplateFile::Parent => include_str!("../../../stacks/parent.yml"),
            TemplateFile::IsolatedVpc => include_str!("../../../stacks/isolated-vpc.yml"),
            TemplateFile::Cluster => include_str!("../../../stacks/cluster.yml"),
            TemplateFile::PrivateService => include_str!("../../../stacks/private-service.yml"),
        }
    }
}

/// The logical ID of the VPC stack in the parent template.
const VPC_STACK_RESOURCE: &str = "VpcStack";

/// The four template texts, bundled or read from a directory.
#[derive(Debug, Clone)]
pub struct StackSet {
    /// In [`TemplateFile::ALL`] order.
    texts: Vec<String>,
}

impl StackSet {
    /// The templates built into isokit.
    pub fn bundled() -> StackSet {
        StackSet {
            texts: TemplateFile::ALL
                .iter()
                .map(|file| file.bundled_text().to_owned())
                .collect(),
        }
    }

    /// Reads all four templates from `dir` (a `--stacks-dir`); any missing one
    /// is an error naming it.
    pub fn from_dir(dir: &Path) -> Result<StackSet, Error> {
        let mut texts = Vec::with_capacity(TemplateFile::ALL.len());
        for file in TemplateFile::ALL {
            let path = dir.join(file.file_name());
            match fs::read_to_string(&path) {
                Ok(text) => texts.push(text),
                Err(source) if source.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::MissingTemplate {
                        dir: dir.to_owned(),
                        template: file.file_name(),
                    });
                }
                Err(source) => return Err(Error::Read { path, source }),
            }
        }
        Ok(StackSet { texts })
    }

    pub fn text(&self, file: TemplateFile) -> &str {
        // The variants are declared in `ALL` order.
        &self.texts[file as usize]
    }

    pub fn template(&self, file: TemplateFile) -> Result<Template, Error> {
        Template::parse(file.file_name(), self.text(file))
    }

    /// All four, parsed, in [`TemplateFile::ALL`] order.
    pub fn templates(&self) -> Result<Vec<Template>, Error> {
        TemplateFile::ALL
            .iter()
            .map(|file| self.template(*file))
            .collect()
    }

    /// Checks values for the parent template's parameters the way
    /// CloudFormation will, so that a bad value fails before SAM uploads
    /// anything: every parameter is declared, and every parameter's value
    /// (the one given, else its default) meets its constraints. The values
    /// the parent hands its nested stacks are checked against their
    /// templates too, where they can be worked out before deploying.
    pub fn check_parameters(&self, values: &ParameterValues) -> Result<(), Error> {
        let parent = self.template(TemplateFile::Parent)?;
        let declared = parent.section("Parameters");
        if let Some((name, _)) = values
            .iter()
            .find(|(name, _)| parent.parameter(name).is_none())
        {
            return Err(Error::UnknownParameter {
                name: name.to_owned(),
                known: declared.iter().map(|(known, _)| known.clone()).collect(),
            });
        }
        for (name, node) in declared {
            let value = match values.get(name) {
                Some(value) => value.to_owned(),
                None => node.get("Default").and_then(Node::as_text).ok_or_else(|| {
                    Error::MissingParameter {
                        template: parent.name().to_owned(),
                        name: name.clone(),
                    }
                })?,
            };
            Declaration {
                template: parent.name(),
                name,
                node,
                hidden: is_no_echo(node),
            }
            .check(&value)?;
        }
        self.check_nested_parameters(&parent, values)
    }

    /// The parameters each nested stack gets from the parent, where they
    /// evaluate before deployment (`!Ref` a parent parameter, `!If` on
    /// conditions of them); those only known once deployed (`!GetAtt`) are
    /// CloudFormation's to check.
    fn check_nested_parameters(
        &self,
        parent: &Template,
        values: &ParameterValues,
    ) -> Result<(), Error> {
        let scope = Scope::new(parent, values);
        for stack in parent
            .resources()
            .filter(|resource| resource.kind == "AWS::CloudFormation::Stack")
        {
            let Some(file) = stack
                .property("TemplateURL")
                .and_then(Node::as_str)
                .and_then(|url| TemplateFile::ALL.into_iter().find(|f| f.file_name() == url))
            else {
                continue;
            };
            if let Some(condition) = stack.condition
                && !scope.condition(condition).unwrap_or(true)
            {
                continue;
            }
            let child = self.template(file)?;
            let template = format!("{} (nested as {})", child.name(), stack.name);
            for (name, expression) in stack
                .property("Parameters")
                .map(Node::entries)
                .unwrap_or_default()
            {
                let (Some(node), Ok(Value::Text(value))) =
                    (child.parameter(name), scope.value(expression))
                else {
                    continue;
                };
                let mut sources = Vec::new();
                parameters_of(parent, expression, &mut sources);
                let hidden = is_no_echo(node)
                    || sources
                        .iter()
                        .any(|source| parent.parameter(source).is_some_and(is_no_echo));
                Declaration {
                    template: &template,
                    name,
                    node,
                    hidden,
                }
                .check(&value)?;
            }
        }
        Ok(())
    }

    /// The parent template's parameters, in template order, each with the
    /// value a deployment with `values` gives it: the one passed, else its
    /// default (`None`: neither).
    pub fn parent_parameters(
        &self,
        values: &ParameterValues,
    ) -> Result<Vec<ParentParameter>, Error> {
        let parent = self.template(TemplateFile::Parent)?;
        Ok(parent
            .section("Parameters")
            .iter()
            .map(|(name, node)| ParentParameter {
                name: name.clone(),
                value: values
                    .get(name)
                    .map(str::to_owned)
                    .or_else(|| node.get("Default").and_then(Node::as_text)),
                no_echo: is_no_echo(node),
            })
            .collect())
    }

    /// The isolation audit over the four templates, with their defaults.
    pub fn audit(&self) -> Result<AuditReport, Error> {
        Ok(audit(&self.templates()?))
    }

    /// The isolation audit of the four templates as deployed with these
    /// values for the parent's parameters.
    pub fn audit_deployed(&self, parent_values: &ParameterValues) -> Result<AuditReport, Error> {
        Ok(audit_with(&self.templates()?, parent_values))
    }

    /// The endpoints the task definitions need, deployed with these values
    /// for the parent's parameters.
    pub fn endpoint_needs(
        &self,
        parent_values: &ParameterValues,
    ) -> Result<Vec<EndpointNeed>, Error> {
        Ok(endpoint_needs(&self.templates()?, parent_values))
    }

    /// The endpoints the VPC template can create, in template order.
    pub fn offered_endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        let vpc = self.template(TemplateFile::IsolatedVpc)?;
        Ok(endpoints_of_vpc_template(&vpc)?
            .into_iter()
            .map(|declared| declared.endpoint)
            .collect())
    }

    /// Sets the parent's parameters that decide which optional endpoints the
    /// VPC template creates, so that it creates `wanted` and no other
    /// optional one: a switch a value already turns on (`--ec2`'s
    /// `DeployingToEC2`) stays on. An endpoint created under a condition is
    /// switched through the one parameter its condition tests, which the
    /// parent must declare and pass under the same name (as the bundled
    /// templates do); the result is checked by evaluating what the VPC stack
    /// then creates.
    pub fn set_endpoint_switches(
        &self,
        parent_values: &mut ParameterValues,
        wanted: &[Endpoint],
    ) -> Result<(), Error> {
        let parent = self.template(TemplateFile::Parent)?;
        let vpc = self.template(TemplateFile::IsolatedVpc)?;
        let declared = endpoints_of_vpc_template(&vpc)?;
        let switch_of = |found: &crate::endpoints::VpcEndpoint| -> Result<Option<String>, Error> {
            let Some(condition) = &found.condition else {
                return Ok(None);
            };
            let mut tested = Vec::new();
            if let Some(body) = vpc.condition(condition) {
                parameters_of(&vpc, body, &mut tested);
            }
            let why = match tested.as_slice() {
                [switch] if parent.parameter(switch).is_some() => return Ok(Some(switch.clone())),
                [switch] => format!("parent.yml declares no parameter {switch} to pass it"),
                _ => format!("it tests {} parameters, not one", tested.len()),
            };
            Err(Error::EndpointSwitch {
                endpoint: found.endpoint.to_string(),
                resource: found.resource.clone(),
                condition: condition.clone(),
                why,
            })
        };
        for found in &declared {
            if let Ok(Some(switch)) = switch_of(found)
                && parent_values.get(&switch).is_none()
            {
                parent_values.set(switch, "false");
            }
        }
        for endpoint in wanted {
            let found = declared
                .iter()
                .find(|declared| &declared.endpoint == endpoint)
                .ok_or_else(|| Error::EndpointNotOffered {
                    endpoint: endpoint.to_string(),
                    offered: declared.iter().map(|d| d.endpoint.to_string()).collect(),
                })?;
            if let Some(switch) = switch_of(found)? {
                parent_values.set(switch, "true");
            }
        }
        let created = self.endpoints(parent_values)?;
        if let Some(found) = wanted
            .iter()
            .filter(|endpoint| !created.contains(endpoint))
            .find_map(|missing| declared.iter().find(|d| &d.endpoint == missing))
        {
            return Err(Error::EndpointSwitch {
                endpoint: found.endpoint.to_string(),
                resource: found.resource.clone(),
                condition: found.condition.clone().unwrap_or_default(),
                why: "with its parameter set to true, the stack still does not create it".into(),
            });
        }
        Ok(())
    }

    /// The endpoints a deployment of the parent with these parameter values
    /// creates: the parent's values flow through its `VpcStack` parameters
    /// into the VPC template's endpoint conditions.
    pub fn endpoints(&self, parent_values: &ParameterValues) -> Result<Vec<Endpoint>, Error> {
        let parent = self.template(TemplateFile::Parent)?;
        let vpc = self.template(TemplateFile::IsolatedVpc)?;
        let stack = parent
            .resource(VPC_STACK_RESOURCE)
            .ok_or_else(|| Error::Template {
                template: parent.name().to_owned(),
                problem: format!("has no {VPC_STACK_RESOURCE} resource"),
            })?;
        // Only the parameters the endpoints' conditions read: the others
        // (the subnets' zones, say) may be known only once chosen.
        let mut read = Vec::new();
        for vpc_endpoint in endpoints_of_vpc_template(&vpc)? {
            if let Some(condition) = vpc_endpoint
                .condition
                .as_deref()
                .and_then(|name| vpc.condition(name))
            {
                parameters_of(&vpc, condition, &mut read);
            }
        }
        let scope = Scope::new(&parent, parent_values);
        let mut vpc_values = ParameterValues::new();
        for (name, expression) in stack
            .property("Parameters")
            .map(|p| p.entries())
            .unwrap_or_default()
            .iter()
            .filter(|(name, _)| read.contains(name))
        {
            match scope.value(expression)? {
                Value::Text(text) => vpc_values.set(name.clone(), text),
                other => {
                    return Err(Error::Evaluate {
                        template: parent.name().to_owned(),
                        reason: format!(
                            "{VPC_STACK_RESOURCE} parameter {name} is not text but {other:?}"
                        ),
                    });
                }
            }
        }
        active_endpoints(&vpc, &vpc_values)
    }

    /// The address plan of the VPC template: the VPC's range and its private
    /// subnets' ranges, in template order.
    pub fn network_plan(&self) -> Result<NetworkPlan, Error> {
        let vpc = self.template(TemplateFile::IsolatedVpc)?;
        let values = ParameterValues::new();
        let scope = Scope::new(&vpc, &values);
        let cidr_of = |resource: crate::template::Resource<'_>| -> Result<String, Error> {
            let block = resource
                .property("CidrBlock")
                .ok_or_else(|| Error::Template {
                    template: vpc.name().to_owned(),
                    problem: format!("{} has no CidrBlock", resource.name),
                })?;
            match scope.value(block)? {
                Value::Text(text) => Ok(text),
                other => Err(Error::Evaluate {
                    template: vpc.name().to_owned(),
                    reason: format!("{}'s CidrBlock is not text but {other:?}", resource.name),
                }),
            }
        };
        let vpc_resource = vpc
            .resources()
            .find(|resource| resource.kind == "AWS::EC2::VPC")
            .ok_or_else(|| Error::Template {
                template: vpc.name().to_owned(),
                problem: "has no AWS::EC2::VPC resource".to_owned(),
            })?;
        Ok(NetworkPlan {
            vpc_cidr: cidr_of(vpc_resource)?,
            private_subnets: vpc
                .resources()
                .filter(|resource| resource.kind == "AWS::EC2::Subnet")
                .map(cidr_of)
                .collect::<Result<_, _>>()?,
        })
    }

    /// What the service's task definition gives its container, evaluated
    /// with `values`: the service template's parameters (`Endpoints`,
    /// `VpcCidr`, ...) and the pseudo parameters `AWS::Region` and
    /// `AWS::AccountId`.
    pub fn task_container(&self, values: &ParameterValues) -> Result<TaskContainer, Error> {
        let service = self.template(TemplateFile::PrivateService)?;
        let scope = Scope::new(&service, values);
        let no_container = || Error::Template {
            template: service.name().to_owned(),
            problem: "has no task definition with a container".to_owned(),
        };
        let task = service
            .resources()
            .find(|resource| resource.kind == "AWS::ECS::TaskDefinition")
            .ok_or_else(no_container)?;
        let container = task
            .property("ContainerDefinitions")
            .and_then(|definitions| definitions.as_list())
            .and_then(|definitions| definitions.first())
            .ok_or_else(no_container)?;
        // Evaluated: the bundled template makes the root writable only when
        // ECS Exec is on, through a condition.
        let flag = |property: &str| {
            container
                .get(property)
                .and_then(|node| scope.value(node).ok())
                .is_some_and(|flag| flag == Value::Text("true".into()))
        };
        let mut environment = Vec::new();
        for variable in container
            .get("Environment")
            .and_then(|e| e.as_list())
            .unwrap_or_default()
        {
            let (Some(name), Some(value)) = (
                variable.get("Name").and_then(|n| n.as_text()),
                variable.get("Value"),
            ) else {
                continue;
            };
            match scope.value(value)? {
                Value::Text(text) => environment.push((name, text)),
                Value::Absent => {}
                other => {
                    return Err(Error::Evaluate {
                        template: service.name().to_owned(),
                        reason: format!("environment variable {name} is not text but {other:?}"),
                    });
                }
            }
        }
        // Every path any mount point names, whichever branch of a condition
        // holds it: a writable folder too many is harmless in a rehearsal,
        // one too few would fail a task that works on ECS.
        let mut volume_paths: Vec<String> = container
            .get("MountPoints")
            .map(Node::walk)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|node| node.get("ContainerPath").and_then(Node::as_text))
            .collect();
        volume_paths.sort();
        volume_paths.dedup();
        let capabilities = |which: &str| -> Vec<String> {
            container
                .get("LinuxParameters")
                .and_then(|linux| linux.get("Capabilities"))
                .and_then(|capabilities| capabilities.get(which))
                .and_then(Node::as_list)
                .unwrap_or_default()
                .iter()
                .filter_map(Node::as_text)
                .collect()
        };
        // Fargate sizes the task, not the container: the task's Cpu and
        // Memory are what its containers are held to.
        let task_size = |property: &str| -> Result<Option<u64>, Error> {
            let Some(node) = task.property(property) else {
                return Ok(None);
            };
            match scope.value(node)? {
                Value::Text(text) => text.parse().map(Some).map_err(|_| Error::Evaluate {
                    template: service.name().to_owned(),
                    reason: format!("the task definition's {property} `{text}` is not a number"),
                }),
                _ => Ok(None),
            }
        };
        Ok(TaskContainer {
            environment,
            user: container.get("User").and_then(Node::as_text),
            read_only_root_filesystem: flag("ReadonlyRootFilesystem"),
            privileged: flag("Privileged"),
            capabilities_add: capabilities("Add"),
            capabilities_drop: capabilities("Drop"),
            volume_paths,
            cpu_units: task_size("Cpu")?,
            memory_mib: task_size("Memory")?,
        })
    }

    /// Writes the four templates into `dir`, creating it if needed. Existing
    /// files are left alone, and nothing is written, unless `overwrite`.
    pub fn export(&self, dir: &Path, overwrite: bool) -> Result<Vec<PathBuf>, Error> {
        fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })?;
        let paths: Vec<PathBuf> = TemplateFile::ALL
            .iter()
            .map(|file| dir.join(file.file_name()))
            .collect();
        if !overwrite && let Some(existing) = paths.iter().find(|path| path.exists()) {
            return Err(Error::ExportExists {
                path: existing.clone(),
            });
        }
        for (file, path) in TemplateFile::ALL.iter().zip(&paths) {
            let mut options = fs::OpenOptions::new();
            options.write(true);
            if overwrite {
                options.create(true).truncate(true);
            } else {
                // Refuses a file that appeared since the check above.
                options.create_new(true);
            }
            options
                .open(path)
                .and_then(|mut out| out.write_all(self.text(*file).as_bytes()))
                .map_err(|source| match source.kind() {
                    io::ErrorKind::AlreadyExists => Error::ExportExists { path: path.clone() },
                    _ => Error::Write {
                        path: path.clone(),
                        source,
                    },
                })?;
        }
        Ok(paths)
    }
}

/// What the service's task definition gives its container, as far as a
/// rehearsal on a local engine can mirror it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskContainer {
    pub environment: Vec<(String, String)>,
    /// `uid:gid` or a user name; `None` runs as the image's user.
    pub user: Option<String>,
    pub read_only_root_filesystem: bool,
    pub privileged: bool,
    /// `LinuxParameters.Capabilities`: ECS drops these from Docker's
    /// default set first, then adds those.
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// Where task volumes are mounted: writable even on a read-only root.
    pub volume_paths: Vec<String>,
    /// The task's CPU units (1024 per vCPU) and memory, when it sets them.
    pub cpu_units: Option<u64>,
    pub memory_mib: Option<u64>,
}

/// A parameter of the parent template and the value it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentParameter {
    pub name: String,
    pub value: Option<String>,
    /// Declared `NoEcho`: CloudFormation never shows its value.
    pub no_echo: bool,
}

/// The address ranges the VPC template gives the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    pub vpc_cidr: String,
    pub private_subnets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use isokit_endpoints::{DEFAULT_ENDPOINTS, EC2_ENDPOINTS, FARGATE_ENDPOINTS, Partition};

    use super::*;
    use crate::endpoints::{ENDPOINTS_OUTPUT, check_endpoints_output, endpoints_of_vpc_template};

    fn names(list: &[Endpoint]) -> Vec<&str> {
        list.iter().map(Endpoint::service).collect()
    }

    /// The bundled parent's values, as isokit deploy passes them.
    fn deployed(extra: &[(&str, &str)]) -> ParameterValues {
        let mut values = ParameterValues::new()
            .with(
                "ImageUri",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc",
            )
            .with("AvailabilityZoneOne", "eu-west-1a")
            .with("AvailabilityZoneTwo", "eu-west-1b");
        for (name, value) in extra {
            values.set(*name, *value);
        }
        values
    }

    #[test]
    fn parameter_values_are_checked_as_cloudformation_will() {
        let stacks = StackSet::bundled();
        let check = |name: &str, value: &str| {
            stacks
                .check_parameters(&deployed(&[(name, value)]))
                .map_err(|error| error.to_string())
        };
        assert_eq!(check("LogRetentionInDays", "30"), Ok(()));
        assert_eq!(check("DesiredCount", "100"), Ok(()));
        assert_eq!(check("DeployingToEC2", "true"), Ok(()));

        let error = check("LogRetentionInDays", "45").expect_err("not allowed");
        assert!(
            error.starts_with(
                "parameter LogRetentionInDays cannot be \"45\": parent.yml allows one of 1, 3"
            ) && error.contains("14, 30, 60"),
            "{error}"
        );
        for value in ["0", "101", "two"] {
            let error = check("DesiredCount", value).expect_err("out of range");
            assert!(
                error.ends_with("parent.yml allows a number from 1 to 100"),
                "{value}: {error}"
            );
        }
        let error = check("ServiceName", "web_1 api").expect_err("pattern");
        assert!(
            error.starts_with("parameter ServiceName cannot be \"web_1 api\": parent.yml requires the whole value to match the pattern"),
            "{error}"
        );
        let error = check("DeployingToEc2", "true").expect_err("undeclared");
        assert!(
            error.contains("no parameter DeployingToEc2") && error.contains("DeployingToEC2"),
            "{error}"
        );
        // ImageUri has no default: it must be given.
        let error = stacks
            .check_parameters(&ParameterValues::new())
            .expect_err("no ImageUri")
            .to_string();
        assert_eq!(
            error,
            "parameter ImageUri of parent.yml has no value and no default: pass --parameter ImageUri=VALUE"
        );
    }

    /// A customised set: the parent passes a parameter of its own to the
    /// service stack, whose template constrains it further.
    fn customised(parent_extra: &str, service_extra: &str, passed: &str) -> StackSet {
        let bundled = StackSet::bundled();
        let mut texts: Vec<String> = TemplateFile::ALL
            .iter()
            .map(|file| bundled.text(*file).to_owned())
            .collect();
        let add = |text: &mut String, after: &str, extra: &str| {
            let at = text.find(after).expect("anchor") + after.len();
            text.insert_str(at, extra);
        };
        add(&mut texts[0], "Parameters:\n", parent_extra);
        add(
            &mut texts[0],
            "      TemplateURL: private-service.yml\n      Parameters:\n",
            passed,
        );
        add(&mut texts[3], "Parameters:\n", service_extra);
        StackSet { texts }
    }

    #[test]
    fn values_handed_to_nested_stacks_meet_their_templates_too() {
        let stacks = customised(
            "  Team:\n    Type: String\n    Default: platform\n  Token:\n    Type: String\n    NoEcho: true\n    Default: none\n",
            "  Team:\n    Type: String\n    MaxLength: 8\n  Token:\n    Type: String\n    MinLength: 5\n",
            "        Team: !Ref Team\n        Token: !Sub '${Token}'\n",
        );
        let check = |extra: &[(&str, &str)]| {
            stacks
                .check_parameters(&deployed(extra))
                .map_err(|error| error.to_string())
        };
        assert_eq!(check(&[("Token", "long-token")]), Ok(()));
        assert_eq!(
            check(&[("Team", "platform-ops")]),
            Err(
                "parameter Team cannot be \"platform-ops\": private-service.yml (nested as \
                 ServiceStack) allows at most 8 characters"
                    .into()
            )
        );
        // The default is checked too; the value comes from a NoEcho
        // parameter of the parent, so it is not shown.
        let error = check(&[]).expect_err("the default is too short");
        assert_eq!(
            error,
            "parameter Token cannot be the value given (not shown: NoEcho): private-service.yml \
             (nested as ServiceStack) allows at least 5 characters"
        );
    }

    #[test]
    fn bundled_templates_all_parse() {
        let templates = StackSet::bundled()
            .templates()
            .expect("bundled templates parse");
        let names: Vec<&str> = templates.iter().map(Template::name).collect();
        assert_eq!(
            names,
            [
                "parent.yml",
                "isolated-vpc.yml",
                "cluster.yml",
                "private-service.yml"
            ]
        );
    }

    #[test]
    fn the_network_plan_puts_the_first_private_subnet_where_rehearsals_expect_it() {
        let plan = StackSet::bundled().network_plan().expect("plan evaluates");
        assert_eq!(plan.vpc_cidr, "10.0.0.0/16");
        assert_eq!(plan.private_subnets, ["10.0.128.0/18", "10.0.192.0/18"]);
    }

    #[test]
    fn the_task_environment_is_the_task_definitions_with_values_filled_in() {
        let values = ParameterValues::new()
            .with("AWS::Region", "eu-west-1")
            .with("AWS::AccountId", "210987654321")
            .with("Endpoints", "ecr.api,ecr.dkr")
            .with("VpcCidr", "10.0.0.0/16")
            .with("ContainerCpu", "512")
            .with("ContainerMemory", "1024");
        let container = StackSet::bundled()
            .task_container(&values)
            .expect("evaluates");
        let environment = &container.environment;
        let get = |name: &str| {
            environment
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("ISOKIT_REGION"), Some("eu-west-1"));
        assert_eq!(get("ISOKIT_ACCOUNT"), Some("210987654321"));
        assert_eq!(get("ISOKIT_ENDPOINTS"), Some("ecr.api,ecr.dkr"));
        assert_eq!(get("ISOKIT_VPC_CIDR"), Some("10.0.0.0/16"));
        assert_eq!(get("ISOKIT_PORT"), Some("8080"));
        assert_eq!(container.user.as_deref(), Some("65532:65532"));
        assert!(container.read_only_root_filesystem);
        assert!(
            container.volume_paths.contains(&"/tmp".to_owned()),
            "{:?}",
            container.volume_paths
        );
        // What confines the container on Fargate, which a rehearsal repeats.
        assert!(!container.privileged);
        assert_eq!(container.capabilities_drop, ["ALL"]);
        assert!(container.capabilities_add.is_empty());
        assert_eq!(
            (container.cpu_units, container.memory_mib),
            (Some(512), Some(1024))
        );
    }

    #[test]
    fn the_task_environment_needs_the_region_it_cannot_guess() {
        let values = ParameterValues::new()
            .with("Endpoints", "s3")
            .with("VpcCidr", "10.0.0.0/16");
        let err = StackSet::bundled()
            .task_container(&values)
            .expect_err("no region");
        assert!(err.to_string().contains("AWS::Region"), "{err}");
    }

    #[test]
    fn parent_parameters_decide_the_endpoints() {
        let stacks = StackSet::bundled();
        let defaults = stacks.endpoints(&ParameterValues::new()).expect("defaults");
        assert_eq!(names(&defaults), DEFAULT_ENDPOINTS);
        let ec2 = stacks
            .endpoints(&ParameterValues::new().with("DeployingToEC2", "true"))
            .expect("ec2");
        assert_eq!(names(&ec2)[4..], EC2_ENDPOINTS);
        // ECS Exec brings its channel, ssmmessages, and nothing else.
        let exec = ParameterValues::new().with("EnableExecuteCommand", "true");
        assert_eq!(
            names(&stacks.endpoints(&exec).expect("exec")),
            ["ecr.api", "ecr.dkr", "s3", "logs", "ssmmessages"]
        );
        let all = ParameterValues::new()
            .with("CreateSecretsManagerEndpoint", "true")
            .with("CreateSsmEndpoint", "true")
            .with("CreateSsmMessagesEndpoint", "true")
            .with("CreateKmsEndpoint", "true");
        assert_eq!(
            names(&stacks.endpoints(&all).expect("all")),
            FARGATE_ENDPOINTS
        );
    }

    fn endpoints(list: &[&str]) -> Vec<Endpoint> {
        list.iter()
            .map(|name| name.parse().expect("endpoint name"))
            .collect()
    }

    #[test]
    fn the_bundled_task_needs_what_it_starts_with_and_exec_its_channel() {
        let stacks = StackSet::bundled();
        let needed = |values: &ParameterValues| -> Vec<String> {
            stacks
                .endpoint_needs(values)
                .expect("needs")
                .into_iter()
                .map(|need| need.endpoint.to_string())
                .collect()
        };
        assert_eq!(needed(&deployed(&[])), DEFAULT_ENDPOINTS);
        assert_eq!(
            needed(&deployed(&[("EnableExecuteCommand", "true")])),
            ["ecr.api", "ecr.dkr", "s3", "logs", "ssmmessages"]
        );
    }

    #[test]
    fn switches_create_exactly_the_wanted_endpoints() {
        let stacks = StackSet::bundled();
        let mut values = deployed(&[]);
        stacks
            .set_endpoint_switches(&mut values, &endpoints(&["secretsmanager", "kms", "logs"]))
            .expect("switchable");
        assert_eq!(values.get("CreateSecretsManagerEndpoint"), Some("true"));
        assert_eq!(values.get("CreateKmsEndpoint"), Some("true"));
        // Every other switch is set, off, so a redeploy turns it off.
        assert_eq!(values.get("CreateSsmEndpoint"), Some("false"));
        assert_eq!(values.get("CreateSsmMessagesEndpoint"), Some("false"));
        assert_eq!(values.get("DeployingToEC2"), Some("false"));
        assert_eq!(
            names(&stacks.endpoints(&values).expect("endpoints")),
            ["ecr.api", "ecr.dkr", "s3", "logs", "secretsmanager", "kms"]
        );
        // A switch a flag turned on stays on.
        let mut ec2 = deployed(&[("DeployingToEC2", "true")]);
        stacks.set_endpoint_switches(&mut ec2, &[]).expect("none");
        assert_eq!(ec2.get("DeployingToEC2"), Some("true"));
        let error = stacks
            .set_endpoint_switches(&mut deployed(&[]), &endpoints(&["sts"]))
            .expect_err("no sts endpoint")
            .to_string();
        assert!(
            error.starts_with("isolated-vpc.yml creates no sts endpoint; it can create ecr.api,"),
            "{error}"
        );
    }

    #[test]
    fn a_switch_the_parent_does_not_declare_is_an_error_naming_it() {
        let mut stacks = StackSet::bundled();
        let parent = stacks.text(TemplateFile::Parent).replace(
            "  CreateKmsEndpoint:\n    Type: String",
            "  KmsOn:\n    Type: String",
        );
        stacks.texts[TemplateFile::Parent as usize] = parent;
        let error = stacks
            .set_endpoint_switches(&mut deployed(&[]), &endpoints(&["kms"]))
            .expect_err("undeclared switch")
            .to_string();
        assert_eq!(
            error,
            "isolated-vpc.yml creates the kms endpoint (KmsEndpoint) only when KmsWanted, which \
             isokit cannot turn on: parent.yml declares no parameter CreateKmsEndpoint to pass it"
        );
    }

    #[test]
    fn every_service_name_and_arn_renders_for_a_region_of_each_partition() {
        let stacks = StackSet::bundled();
        let vpc = stacks.template(TemplateFile::IsolatedVpc).expect("VPC");
        for partition in Partition::ALL {
            let region = partition.example_region();
            let values = ParameterValues::new()
                .with("AWS::Region", region)
                .with("AWS::Partition", partition.name())
                .with("AWS::AccountId", "123456789012");
            let scope = Scope::new(&vpc, &values);
            for declared in endpoints_of_vpc_template(&vpc).expect("endpoints") {
                let resource = vpc.resource(&declared.resource).expect("resource");
                let rendered = scope
                    .value(resource.property("ServiceName").expect("ServiceName"))
                    .expect("renders");
                assert_eq!(
                    rendered,
                    Value::Text(declared.endpoint.vpc_service_name(region)),
                    "{} in {region}",
                    declared.resource
                );
            }
            let mut arns = 0;
            for template in stacks.templates().expect("templates") {
                let scope = Scope::new(&template, &values);
                for node in template.body().walk() {
                    let ((Some(("Fn::Sub", text)), _) | (None, text)) = (node.intrinsic(), node)
                    else {
                        continue;
                    };
                    let Some(written) = text.as_str().filter(|text| text.contains("arn:")) else {
                        continue;
                    };
                    // Every ARN takes its partition from the stack.
                    assert!(
                        written.matches("arn:").count()
                            == written.matches("arn:${AWS::Partition}:").count(),
                        "{}: {written}",
                        template.name()
                    );
                    if node.intrinsic().is_some()
                        && let Ok(Value::Text(arn)) = scope.value(node)
                    {
                        assert!(arn.starts_with(&format!("arn:{partition}:")), "{arn}");
                        arns += 1;
                    }
                }
            }
            // The layer bucket, the execution role's managed policy, and the
            // two roles' trust conditions.
            assert_eq!(arns, 4, "{partition}");
            let layers = vpc
                .resource("S3Endpoint")
                .and_then(|r| r.property("PolicyDocument"))
                .map(Node::walk)
                .unwrap_or_default()
                .into_iter()
                .find_map(|node| match scope.value(node) {
                    Ok(Value::Text(text)) if text.contains("starport") => Some(text),
                    _ => None,
                });
            assert_eq!(
                layers.as_deref(),
                Some(
                    format!("arn:{partition}:s3:::prod-{region}-starport-layer-bucket/*").as_str()
                )
            );
        }
    }

    #[test]
    fn exec_meets_its_prerequisites_and_the_task_stays_confined_without_it() {
        let stacks = StackSet::bundled();
        let values = |exec: &str| {
            ParameterValues::new()
                .with("AWS::Region", "eu-west-1")
                .with("AWS::AccountId", "210987654321")
                .with("Endpoints", "ecr.api")
                .with("VpcCidr", "10.0.0.0/16")
                .with("ContainerCpu", "256")
                .with("ContainerMemory", "512")
                .with("EnableExecuteCommand", exec)
        };
        let plain = stacks.task_container(&values("false")).expect("plain");
        assert!(plain.read_only_root_filesystem);
        let exec = stacks.task_container(&values("true")).expect("exec");
        // ECS Exec is documented as unsupported on a read-only root.
        assert!(!exec.read_only_root_filesystem);
        assert_eq!(plain.volume_paths, ["/tmp"]);
        assert_eq!(exec.volume_paths, ["/tmp"]);
        let service = stacks
            .template(TemplateFile::PrivateService)
            .expect("service");
        let task = service.resource("TaskDefinition").expect("task");
        let init = task
            .property("ContainerDefinitions")
            .and_then(Node::as_list)
            .and_then(|containers| containers.first())
            .and_then(|container| container.get("LinuxParameters"))
            .and_then(|linux| linux.get("InitProcessEnabled"))
            .expect("InitProcessEnabled");
        let exec_values = values("true");
        assert_eq!(
            Scope::new(&service, &exec_values)
                .value(init)
                .expect("init"),
            Value::Text("true".into())
        );
        let cluster = stacks.template(TemplateFile::Cluster).expect("cluster");
        let logging = cluster
            .resource("Cluster")
            .and_then(|c| c.property("Configuration"))
            .and_then(|c| c.get("ExecuteCommandConfiguration"))
            .and_then(|c| c.get("Logging"))
            .and_then(Node::as_str);
        assert_eq!(logging, Some("NONE"));
        let task_role = cluster.resource("TaskRole").expect("task role");
        let actions: Vec<String> = task_role
            .properties
            .walk()
            .into_iter()
            .filter_map(Node::as_str)
            .filter(|text| text.starts_with("ssmmessages:"))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            actions,
            [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel"
            ]
        );
    }

    #[test]
    fn the_vpc_endpoints_output_matches_its_resources() {
        let vpc = StackSet::bundled()
            .template(TemplateFile::IsolatedVpc)
            .expect("VPC template parses");
        assert_eq!(
            check_endpoints_output(&vpc, ENDPOINTS_OUTPUT).expect("evaluable"),
            []
        );
        let declared: Vec<String> = endpoints_of_vpc_template(&vpc)
            .expect("endpoints")
            .iter()
            .map(|e| e.endpoint.to_string())
            .collect();
        let known: Vec<&str> = FARGATE_ENDPOINTS
            .iter()
            .chain(EC2_ENDPOINTS.iter())
            .copied()
            .collect();
        assert_eq!(
            declared, known,
            "the VPC template and isokit-endpoints name the same endpoints"
        );
    }

    /// isokit-service reads exactly this environment and health check.
    #[test]
    fn the_service_container_gets_the_contracted_environment() {
        let service = StackSet::bundled()
            .template(TemplateFile::PrivateService)
            .expect("service parses");
        let task = service.resource("TaskDefinition").expect("TaskDefinition");
        let containers = task
            .property("ContainerDefinitions")
            .and_then(Node::as_list)
            .expect("containers");
        let [container] = containers else {
            panic!("one container, found {}", containers.len())
        };
        let environment: Vec<(String, String)> = container
            .get("Environment")
            .and_then(Node::as_list)
            .expect("Environment")
            .iter()
            .map(|variable| {
                let name = variable
                    .get("Name")
                    .and_then(Node::as_str)
                    .expect("Name")
                    .to_owned();
                (name, variable.get("Value").expect("Value").to_string())
            })
            .collect();
        let expected = [
            ("ISOKIT_REGION", "{Ref: \"AWS::Region\"}"),
            ("ISOKIT_ACCOUNT", "{Ref: \"AWS::AccountId\"}"),
            ("ISOKIT_ENDPOINTS", "{Ref: \"Endpoints\"}"),
            ("ISOKIT_VPC_CIDR", "{Ref: \"VpcCidr\"}"),
            ("ISOKIT_PORT", "\"8080\""),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(environment, expected);
        assert_eq!(
            container
                .get("HealthCheck")
                .and_then(|h| h.get("Command"))
                .map(Node::to_string)
                .as_deref(),
            Some("[\"CMD\", \"/isokit-service\", \"healthcheck\"]")
        );
        // Its read-only root, evaluated with and without ECS Exec, is
        // exec_meets_its_prerequisites_and_the_task_stays_confined_without_it's.
    }

    #[test]
    fn the_parent_surfaces_the_outputs_other_commands_read() {
        let parent = StackSet::bundled()
            .template(TemplateFile::Parent)
            .expect("parent parses");
        for output in [
            "VpcId",
            "VpcCidr",
            "PrivateSubnetIds",
            "PrivateSubnetCidrs",
            "ClusterName",
            "ServiceName",
            "LogGroupName",
            "EndpointSecurityGroupId",
            ENDPOINTS_OUTPUT,
        ] {
            assert!(
                parent.output(output).is_some(),
                "parent.yml has no {output} output"
            );
        }
        let vpc = StackSet::bundled()
            .template(TemplateFile::IsolatedVpc)
            .expect("VPC template parses");
        let cidrs = Scope::new(&vpc, &ParameterValues::new())
            .value(vpc.output("PrivateSubnetCidrs").expect("output"));
        assert_eq!(
            cidrs.expect("evaluable"),
            Value::Text("10.0.128.0/18,10.0.192.0/18".into())
        );
    }

    #[test]
    fn export_writes_all_four_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let target = dir.path().join("stacks");
        let stacks = StackSet::bundled();
        let written = stacks.export(&target, false).expect("first export");
        assert_eq!(written.len(), 4);
        let reread = StackSet::from_dir(&target).expect("read back");
        for file in TemplateFile::ALL {
            assert_eq!(reread.text(file), stacks.text(file), "{}", file.file_name());
        }

        fs::write(target.join("cluster.yml"), "# customised\n").expect("customise");
        let error = stacks
            .export(&target, false)
            .expect_err("must not overwrite")
            .to_string();
        assert!(
            error.contains("cluster.yml") || error.contains("parent.yml"),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(target.join("cluster.yml")).expect("still there"),
            "# customised\n"
        );

        stacks.export(&target, true).expect("overwrite when told");
        assert_eq!(
            StackSet::from_dir(&target)
                .expect("read back")
                .text(TemplateFile::Cluster),
            stacks.text(TemplateFile::Cluster)
        );
    }

    #[test]
    fn a_stacks_dir_missing_a_template_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        StackSet::bundled()
            .export(dir.path(), false)
            .expect("export");
        fs::remove_file(dir.path().join("private-service.yml")).expect("remove one");
        let error = StackSet::from_dir(dir.path())
            .expect_err("from_dir")
            .to_string();
        assert!(
            error.contains("private-service.yml")
                && error.contains(&dir.path().display().to_string()),
            "{error}"
        );
    }
}
