//! The templates audited together, so that a value can be followed from a
//! child's parameter to what its parent passes, through other stacks'
//! outputs, down to something the audit can judge, or to the reason it
//! cannot be known before deployment.

use crate::eval::{ParameterValues, Scope, Value, parameters_of};
use crate::nested::{NestedTemplate, nested_template};
use crate::template::{Node, Resource, Template};

/// How many parameters and outputs a value may be followed through before
/// the trail is taken for a loop.
const MAX_HOPS: usize = 16;

/// The SSM parameter types: their `Default` is a parameter name, not a value.
const SSM_PARAMETER_TYPE: &str = "AWS::SSM::Parameter::Value<";

#[derive(Debug, Clone, Copy)]
pub(super) struct TemplateSet<'a>(pub(super) &'a [Template], pub(super) &'a Given);

/// Values given for the parameters of the set's top templates (those no
/// other template nests), as a deployment gives them: they win over the
/// defaults there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Given {
    nodes: Vec<(String, Node)>,
}

impl Given {
    pub(crate) fn new(values: &ParameterValues) -> Given {
        Given {
            nodes: values
                .iter()
                .map(|(name, value)| (name.to_owned(), Node::String(value.to_owned())))
                .collect(),
        }
    }
}

/// Where a child template's parameter comes from, for the endpoint list's
/// wiring, which must end at the VPC stack's output.
pub(super) enum Source<'a> {
    /// Another template's output, through `!GetAtt Stack.Outputs.Name`.
    Output {
        template: &'a Template,
        output: &'a str,
    },
    /// A literal value.
    Literal(String),
}

impl<'a> TemplateSet<'a> {
    pub(super) fn named(&self, name: &str) -> Option<&'a Template> {
        self.0.iter().find(|template| template.name() == name)
    }

    /// The template the nested stack `resource` of `parent` nests, when the
    /// set holds it.
    pub(super) fn nested(
        &self,
        parent: &Template,
        resource: &Resource<'_>,
    ) -> Option<&'a Template> {
        match nested_template(parent.name(), resource)? {
            NestedTemplate::Local(name) => self.named(&name),
            NestedTemplate::Remote(_) => None,
        }
    }

    /// Each nested-stack resource in the set that nests `child`, with its
    /// template.
    fn parents_of<'s>(
        &'s self,
        child: &'s Template,
    ) -> impl Iterator<Item = (&'a Template, Resource<'a>)> + 's {
        self.0.iter().flat_map(move |parent| {
            parent
                .resources()
                .filter(move |resource| {
                    self.nested(parent, resource)
                        .is_some_and(|nested| nested.name() == child.name())
                })
                .map(move |resource| (parent, resource))
        })
    }

    /// `!GetAtt Sibling.Outputs.Name` passed by `parent`: the sibling's
    /// template and the output's name, when the set holds the template.
    fn output_of(
        &self,
        parent: &'a Template,
        passed: &'a Node,
    ) -> Result<(&'a Template, &'a str), String> {
        let Some(("Fn::GetAtt", Node::List(path))) = passed.intrinsic() else {
            return Err(format!("{passed} is not a stack output"));
        };
        let (Some(sibling), Some(output)) = (
            path.first().and_then(Node::as_str),
            path.get(1)
                .and_then(Node::as_str)
                .and_then(|attribute| attribute.strip_prefix("Outputs.")),
        ) else {
            return Err(format!("{passed} is not a stack output"));
        };
        let template = parent
            .resource(sibling)
            .and_then(|resource| self.nested(parent, &resource))
            .ok_or_else(|| format!("it comes from {sibling}, whose template is not in the set"))?;
        Ok((template, output))
    }

    /// Follows `parameter` of `child` to what a parent in the set passes it.
    /// Each error says where the trail went cold.
    pub(super) fn source_of(
        &self,
        child: &Template,
        parameter: &str,
    ) -> Result<Source<'a>, String> {
        let Some((parent, stack)) = self.parents_of(child).next() else {
            return Err(format!(
                "no parent in the set passes {parameter} to {}",
                child.name()
            ));
        };
        let Some(passed) = stack.property("Parameters").and_then(|p| p.get(parameter)) else {
            return Err(format!(
                "{} does not pass {parameter} to {}",
                parent.name(),
                stack.name
            ));
        };
        if let Some(text) = passed.as_text() {
            return Ok(Source::Literal(text));
        }
        let (template, output) = self
            .output_of(parent, passed)
            .map_err(|why| format!("{} passes {parameter} as {passed}: {why}", parent.name()))?;
        Ok(Source::Output { template, output })
    }

    /// What `node` of `template` is once parameters are filled in: what a
    /// parent passes, else the default, followed through other stacks'
    /// outputs; with the template the value is written in. Intrinsic
    /// functions other than `Ref` to a parameter are returned as they are.
    /// The error says why the value cannot be known before deployment.
    pub(super) fn resolve(
        &self,
        template: &'a Template,
        node: &'a Node,
    ) -> Result<(&'a Template, &'a Node), String> {
        self.resolve_within(template, node, 0)
    }

    fn resolve_within(
        &self,
        template: &'a Template,
        node: &'a Node,
        hops: usize,
    ) -> Result<(&'a Template, &'a Node), String> {
        if hops > MAX_HOPS {
            return Err("it is passed around in a loop".into());
        }
        match node.intrinsic() {
            Some(("Fn::ImportValue", export)) => Err(format!(
                "it is imported from another stack's export {export}, which only exists once \
                 deployed"
            )),
            Some(("Ref", Node::String(name))) => match template.parameter(name) {
                Some(declaration) => self.parameter_value(template, name, declaration, hops),
                None => Ok((template, node)),
            },
            _ => Ok((template, node)),
        }
    }

    fn parameter_value(
        &self,
        template: &'a Template,
        name: &str,
        declaration: &'a Node,
        hops: usize,
    ) -> Result<(&'a Template, &'a Node), String> {
        if let Some(kind) = declaration.get("Type").and_then(Node::as_str)
            && kind.starts_with(SSM_PARAMETER_TYPE)
        {
            return Err(format!(
                "it is parameter {name} of type {kind}, whose value Systems Manager Parameter \
                 Store gives when the stack is deployed"
            ));
        }
        for (parent, stack) in self.parents_of(template) {
            let Some(passed) = stack.property("Parameters").and_then(|p| p.get(name)) else {
                continue;
            };
            return match passed.intrinsic() {
                Some(("Fn::GetAtt", _)) => {
                    let (sibling, output) = self.output_of(parent, passed).map_err(|why| {
                        format!("{} passes parameter {name} {passed}: {why}", parent.name())
                    })?;
                    let value = sibling
                        .output(output)
                        .ok_or_else(|| format!("{} has no output {output}", sibling.name()))?;
                    self.resolve_within(sibling, value, hops + 1)
                }
                _ => self.resolve_within(parent, passed, hops + 1),
            };
        }
        if self.parents_of(template).next().is_none()
            && let Some((_, given)) = self.1.nodes.iter().find(|(given, _)| given == name)
        {
            return Ok((template, given));
        }
        declaration
            .get("Default")
            .map(|default| (template, default))
            .ok_or_else(|| {
                format!(
                    "it is parameter {name}, which has no default, and no template in the set \
                     passes it a value"
                )
            })
    }

    /// The text `node` of `template` evaluates to once every parameter it
    /// depends on is followed to what a parent passes (or what was given,
    /// or the default): conditions included. The error says why it cannot
    /// be known before deployment.
    pub(super) fn evaluate(&self, template: &'a Template, node: &Node) -> Result<String, String> {
        self.evaluate_within(template, node, 0)
    }

    fn evaluate_within(
        &self,
        template: &'a Template,
        node: &Node,
        hops: usize,
    ) -> Result<String, String> {
        let values = self.parameter_values(template, node, hops)?;
        match Scope::new(template, &values).value(node) {
            Ok(Value::Text(text)) => Ok(text),
            Ok(other) => Err(format!("{node} is not text but {other:?}")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Whether `condition` of `template` holds, its parameters followed as
    /// [`TemplateSet::evaluate`] follows them.
    pub(super) fn condition(
        &self,
        template: &'a Template,
        condition: &str,
    ) -> Result<bool, String> {
        let body = template
            .condition(condition)
            .ok_or_else(|| format!("condition {condition} is not declared"))?;
        let values = self.parameter_values(template, body, 0)?;
        Scope::new(template, &values)
            .condition(condition)
            .map_err(|error| error.to_string())
    }

    /// The values of the parameters `node` depends on.
    fn parameter_values(
        &self,
        template: &'a Template,
        node: &Node,
        hops: usize,
    ) -> Result<ParameterValues, String> {
        if hops > MAX_HOPS {
            return Err("it is passed around in a loop".into());
        }
        let mut names = Vec::new();
        parameters_of(template, node, &mut names);
        let mut values = ParameterValues::new();
        for name in names {
            let Some(declaration) = template.parameter(&name) else {
                continue;
            };
            let (source, value) = self.parameter_value(template, &name, declaration, hops)?;
            let text = match value.as_text() {
                Some(text) => text,
                None => self.evaluate_within(source, value, hops + 1)?,
            };
            values.set(name, text);
        }
        Ok(values)
    }

    /// The security group resource a `SecurityGroupIds` or `GroupId` item
    /// names, following parameters through parents and outputs; the error
    /// says why it cannot be found in the set.
    pub(super) fn security_group(
        &self,
        template: &'a Template,
        reference: &'a Node,
    ) -> Result<(&'a Template, &'a str), String> {
        let (template, node) = self.resolve(template, reference)?;
        let target = match node.intrinsic() {
            Some(("Ref", Node::String(target))) => Some(target.as_str()),
            Some(("Fn::GetAtt", Node::List(path))) => path.first().and_then(Node::as_str),
            _ => None,
        };
        match target {
            Some(target)
                if template
                    .resource(target)
                    .is_some_and(|r| r.kind == "AWS::EC2::SecurityGroup") =>
            {
                Ok((template, target))
            }
            _ => Err(format!(
                "it is {node} in {}, not a security group the set creates",
                template.name()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Vec<Template> {
        let parse = |name, text| Template::parse(name, text).expect("valid template");
        vec![
            parse(
                "parent.yml",
                "Parameters:\n  Public: {Type: String, Default: 'true'}\n  Secret: {Type: String}\n\
                 Resources:\n  Net:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      \
                 TemplateURL: net.yml\n      Parameters: {Public: !Ref Public, Group: !GetAtt Sg.Outputs.Id, \
                 Loose: !Ref Secret}\n  Sg:\n    Type: AWS::Serverless::Application\n    Properties: {Location: sg.yml}\n",
            ),
            parse(
                "net.yml",
                "Parameters:\n  Public: {Type: String, Default: 'false'}\n  Group: {Type: String}\n  \
                 Loose: {Type: String}\n  Fixed: {Type: String, Default: internal}\n  \
                 Stored: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /net/scheme}\n  Unset: {Type: String}\n\
                 Resources:\n  Subnet:\n    Type: AWS::EC2::Subnet\n    Properties:\n      \
                 MapPublicIpOnLaunch: !Ref Public\n      A: !Ref Fixed\n      B: !Ref Stored\n      \
                 C: !Ref Unset\n      D: !ImportValue shared-vpc\n      E: !Ref Loose\n      F: !Ref Group\n",
            ),
            parse(
                "sg.yml",
                "Resources:\n  Group: {Type: AWS::EC2::SecurityGroup}\nOutputs:\n  Id: {Value: !GetAtt Group.GroupId}\n",
            ),
        ]
    }

    #[test]
    fn values_follow_parents_defaults_and_outputs_or_say_why_not() {
        let templates = set();
        let given = Given::default();
        let set = TemplateSet(&templates, &given);
        let net = &templates[1];
        let subnet = net.resource("Subnet").expect("Subnet");
        let resolve = |property: &str| {
            set.resolve(net, subnet.property(property).expect(property))
                .map(|(template, node)| format!("{}: {node}", template.name()))
        };
        // The parent's value wins over the child's default.
        assert_eq!(
            resolve("MapPublicIpOnLaunch"),
            Ok("parent.yml: \"true\"".into())
        );
        assert_eq!(resolve("A"), Ok("net.yml: \"internal\"".into()));
        assert_eq!(
            resolve("F"),
            Ok("sg.yml: {Fn::GetAtt: [\"Group\", \"GroupId\"]}".into())
        );
        for (property, why) in [
            ("B", "Systems Manager Parameter Store"),
            ("C", "parameter Unset, which has no default"),
            ("D", "imported from another stack's export \"shared-vpc\""),
            ("E", "parameter Secret, which has no default"),
        ] {
            let error = resolve(property).expect_err(property);
            assert!(error.contains(why), "{property}: {error}");
        }
        assert_eq!(
            set.security_group(net, subnet.property("F").expect("F"))
                .map(|(template, group)| (template.name(), group)),
            Ok(("sg.yml", "Group"))
        );
        let error = set
            .security_group(net, subnet.property("A").expect("A"))
            .expect_err("not a group");
        assert!(
            error.contains("not a security group the set creates"),
            "{error}"
        );
    }
}
