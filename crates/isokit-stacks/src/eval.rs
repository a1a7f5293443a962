//! Evaluating the parts of a template that depend only on its parameters:
//! conditions, and values built from `Ref`, `Fn::If`, `Fn::Join`,
//! `Fn::Select`, `Fn::FindInMap` and `Fn::Sub`. Anything that needs a
//! deployed stack (`Fn::GetAtt`, resource `Ref`s, the region) is reported as
//! not evaluable rather than guessed.

use std::collections::BTreeMap;

use crate::Error;
use crate::template::{Node, Template};

/// Parameter values given to a template; parameters left out take their
/// `Default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterValues(BTreeMap<String, String>);

impl ParameterValues {
    pub fn new() -> ParameterValues {
        ParameterValues::default()
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> ParameterValues {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ParameterValues {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        ParameterValues(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// An evaluated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    List(Vec<Value>),
    /// `Ref: AWS::NoValue`: removes itself from the list or property holding it.
    Absent,
}

impl Value {
    fn into_text(self, what: &str) -> Result<String, String> {
        match self {
            Value::Text(text) => Ok(text),
            other => Err(format!("{what} must be text, found {other:?}")),
        }
    }
}

/// How deep conditions may refer to conditions before we call it a cycle.
const MAX_DEPTH: usize = 32;

/// A template together with the parameter values it is evaluated under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) template: &'a Template,
    pub(crate) values: &'a ParameterValues,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(template: &'a Template, values: &'a ParameterValues) -> Scope<'a> {
        Scope { template, values }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Evaluate {
            template: self.template.name().to_owned(),
            reason: reason.into(),
        }
    }

    /// A parameter's value: the one given, else its default.
    pub(crate) fn parameter(&self, name: &str) -> Result<String, Error> {
        let declared = self.template.parameter(name).ok_or_else(|| {
            self.error(format!(
                "it refers to parameter {name}, which it does not declare"
            ))
        })?;
        if let Some(value) = self.values.get(name) {
            return Ok(value.to_owned());
        }
        declared
            .get("Default")
            .and_then(Node::as_text)
            .ok_or_else(|| self.error(format!("parameter {name} has no value and no default")))
    }

    /// `AWS::Region`, `AWS::AccountId` and the like, when the caller knows
    /// them (a rehearsal does; a static audit does not).
    fn pseudo_parameter(&self, name: &str) -> Option<&str> {
        name.starts_with("AWS::")
            .then(|| self.values.get(name))
            .flatten()
    }

    pub(crate) fn condition(&self, name: &str) -> Result<bool, Error> {
        self.condition_at(name, 0)
    }

    fn condition_at(&self, name: &str, depth: usize) -> Result<bool, Error> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("condition {name} refers to itself")));
        }
        let body = self
            .template
            .condition(name)
            .ok_or_else(|| self.error(format!("condition {name} is not declared")))?;
        self.truth(body, depth + 1)
    }

    fn truth(&self, node: &Node, depth: usize) -> Result<bool, Error> {
        match node.intrinsic() {
            Some(("Condition", name)) => {
                let name = name
                    .as_str()
                    .ok_or_else(|| self.error("Condition takes a name"))?;
                self.condition_at(name, depth)
            }
            Some(("Fn::Equals", argument)) => {
                let items = self.operands(argument, Some(2), "Fn::Equals")?;
                let left = self
                    .value(&items[0])?
                    .into_text("an Fn::Equals operand")
                    .map_err(|e| self.error(e))?;
                let right = self
                    .value(&items[1])?
                    .into_text("an Fn::Equals operand")
                    .map_err(|e| self.error(e))?;
                Ok(left == right)
            }
            Some(("Fn::Not", argument)) => {
                Ok(!self.truth(&self.operands(argument, Some(1), "Fn::Not")?[0], depth + 1)?)
            }
            Some(("Fn::And", argument)) => {
                for item in self.operands(argument, None, "Fn::And")? {
                    if !self.truth(item, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Some(("Fn::Or", argument)) => {
                for item in self.operands(argument, None, "Fn::Or")? {
                    if self.truth(item, depth + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => Err(self.error(format!("{node} is not a condition"))),
        }
    }

    fn operands<'n>(
        &self,
        argument: &'n Node,
        arity: Option<usize>,
        function: &str,
    ) -> Result<&'n [Node], Error> {
        let items = argument
            .as_list()
            .ok_or_else(|| self.error(format!("{function} takes a list")))?;
        match arity {
            Some(n) if items.len() != n => {
                Err(self.error(format!("{function} takes {n} operands")))
            }
            _ => Ok(items),
        }
    }

    /// Evaluates a value expression.
    pub(crate) fn value(&self, node: &Node) -> Result<Value, Error> {
        match node {
            Node::String(text) | Node::Number(text) => Ok(Value::Text(text.clone())),
            Node::Bool(value) => Ok(Value::Text(value.to_string())),
            Node::Null => Err(self.error("a value is empty")),
            Node::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match self.value(item)? {
                        Value::Absent => {}
                        value => out.push(value),
                    }
                }
                Ok(Value::List(out))
            }
            Node::Map(_) => match node.intrinsic() {
                Some(("Ref", target)) => {
                    let target = target
                        .as_str()
                        .ok_or_else(|| self.error("Ref takes a name"))?;
                    match target {
                        "AWS::NoValue" => Ok(Value::Absent),
                        _ if self.template.parameter(target).is_some() => {
                            Ok(Value::Text(self.parameter(target)?))
                        }
                        _ if let Some(known) = self.pseudo_parameter(target) => {
                            Ok(Value::Text(known.to_owned()))
                        }
                        _ => Err(self
                            .error(format!("{target} is only known once the stack is deployed"))),
                    }
                }
                Some(("Fn::If", argument)) => {
                    let [condition, then, otherwise] = argument.as_list().unwrap_or_default()
                    else {
                        return Err(
                            self.error("Fn::If takes [condition, value if true, value if false]")
                        );
                    };
                    let condition = condition
                        .as_str()
                        .ok_or_else(|| self.error("Fn::If names a condition"))?;
                    self.value(if self.condition(condition)? {
                        then
                    } else {
                        otherwise
                    })
                }
                Some(("Fn::Join", argument)) => {
                    let [separator, items] = argument.as_list().unwrap_or_default() else {
                        return Err(self.error("Fn::Join takes [separator, list]"));
                    };
                    let separator = separator
                        .as_text()
                        .ok_or_else(|| self.error("Fn::Join's separator is text"))?;
                    let Value::List(items) = self.value(items)? else {
                        return Err(self.error("Fn::Join joins a list"));
                    };
                    let texts = items
                        .into_iter()
                        .map(|item| item.into_text("an Fn::Join item"))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| self.error(e))?;
                    Ok(Value::Text(texts.join(&separator)))
                }
                Some(("Fn::Select", argument)) => {
                    let [index, items] = argument.as_list().unwrap_or_default() else {
                        return Err(self.error("Fn::Select takes [index, list]"));
                    };
                    let index: usize = self
                        .value(index)?
                        .into_text("Fn::Select's index")
                        .map_err(|e| self.error(e))?
                        .parse()
                        .map_err(|_| self.error("Fn::Select's index is not a number"))?;
                    match self.value(items)? {
                        Value::List(mut items) if index < items.len() => {
                            Ok(items.swap_remove(index))
                        }
                        _ => Err(self.error(format!("Fn::Select index {index} is out of range"))),
                    }
                }
                Some(("Fn::FindInMap", argument)) => {
                    let [map, first, second] = argument.as_list().unwrap_or_default() else {
                        return Err(self.error("Fn::FindInMap takes [map, key, key]"));
                    };
                    let mut keys = Vec::with_capacity(3);
                    for key in [map, first, second] {
                        keys.push(
                            self.value(key)?
                                .into_text("an Fn::FindInMap key")
                                .map_err(|e| self.error(e))?,
                        );
                    }
                    self.template
                        .mapping(&keys[0])
                        .and_then(|map| map.get(&keys[1]))
                        .and_then(|entry| entry.get(&keys[2]))
                        .ok_or_else(|| {
                            self.error(format!(
                                "mapping {} has no {}.{}",
                                keys[0], keys[1], keys[2]
                            ))
                        })
                        .and_then(|found| self.value(found))
                }
                Some(("Fn::Sub", Node::String(text))) => {
                    self.substitute(text, &[]).map(Value::Text)
                }
                Some(("Fn::Sub", Node::List(items))) => {
                    let [Node::String(text), variables] = items.as_slice() else {
                        return Err(self.error("Fn::Sub takes [text, {name: value, ...}]"));
                    };
                    let mut own = Vec::new();
                    for (name, value) in variables.entries() {
                        let value = self
                            .value(value)?
                            .into_text("an Fn::Sub variable")
                            .map_err(|e| self.error(e))?;
                        own.push((name.as_str(), value));
                    }
                    self.substitute(text, &own).map(Value::Text)
                }
                Some((function, _)) => Err(self.error(format!(
                    "{function} is only known once the stack is deployed"
                ))),
                None => Err(self.error(format!("{node} is a map, not a value"))),
            },
        }
    }

    /// `Fn::Sub` over its own variables, then parameters; pseudo parameters
    /// (unless given) and resources are not known before deployment.
    fn substitute(&self, text: &str, own: &[(&str, String)]) -> Result<String, Error> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` writes `${Literal}`.
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| self.error(format!("unclosed ${{ in Fn::Sub {text:?}")))?;
            let name = &after[..end];
            if let Some((_, value)) = own.iter().find(|(own, _)| *own == name) {
                out.push_str(value);
            } else if let Some(known) = self.pseudo_parameter(name) {
                out.push_str(known);
            } else if self.template.parameter(name).is_some() {
                out.push_str(&self.parameter(name)?);
            } else {
                return Err(self.error(format!("{name} is only known once the stack is deployed")));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The parameters an expression depends on, through conditions too.
pub(crate) fn parameters_of(template: &Template, node: &Node, into: &mut Vec<String>) {
    let mut seen_conditions: Vec<&str> = Vec::new();
    let mut pending: Vec<&Node> = vec![node];
    while let Some(node) = pending.pop() {
        for inner in node.walk() {
            let condition_name = match inner.intrinsic() {
                Some(("Ref", Node::String(target))) => {
                    if template.parameter(target).is_some() && !into.contains(target) {
                        into.push(target.clone());
                    }
                    None
                }
                Some(("Condition", Node::String(name))) => Some(name.as_str()),
                Some(("Fn::If", Node::List(items))) => items.first().and_then(Node::as_str),
                Some(("Fn::Sub", Node::String(text))) => {
                    for piece in text.split("${").skip(1) {
                        if let Some((name, _)) = piece.split_once('}')
                            && template.parameter(name).is_some()
                            && !into.iter().any(|known| known == name)
                        {
                            into.push(name.to_owned());
                        }
                    }
                    None
                }
                _ => None,
            };
            if let Some(name) = condition_name
                && !seen_conditions.contains(&name)
                && let Some(body) = template.condition(name)
            {
                seen_conditions.push(name);
                pending.push(body);
            }
        }
    }
}

/// Every assignment of the given parameters to their allowed values (or,
/// without `AllowedValues`, their default alone).
pub(crate) fn assignments(
    template: &Template,
    parameters: &[String],
) -> Result<Vec<ParameterValues>, Error> {
    let mut all = vec![ParameterValues::new()];
    for name in parameters {
        let declared = template.parameter(name).ok_or_else(|| Error::Evaluate {
            template: template.name().to_owned(),
            reason: format!("it refers to parameter {name}, which it does not declare"),
        })?;
        let choices: Vec<String> = match declared.get("AllowedValues").and_then(Node::as_list) {
            Some(allowed) => allowed.iter().filter_map(Node::as_text).collect(),
            None => declared
                .get("Default")
                .and_then(Node::as_text)
                .into_iter()
                .collect(),
        };
        if choices.is_empty() {
            return Err(Error::Evaluate {
                template: template.name().to_owned(),
                reason: format!("parameter {name} has neither AllowedValues nor a Default to try"),
            });
        }
        all = all
            .into_iter()
            .flat_map(|values| {
                choices
                    .iter()
                    .map(move |choice| values.clone().with(name.clone(), choice.clone()))
            })
            .collect();
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "
Parameters:
  Mode: {Type: String, Default: 'false', AllowedValues: ['true', 'false']}
  Size: {Type: Number, Default: 2}
  Name: {Type: String}
Mappings:
  Net: {VPC: {CIDR: 10.0.0.0/16}}
Conditions:
  On: !Equals [!Ref Mode, 'true']
  Off: !Not [!Condition On]
  Both: !And [!Condition On, !Equals [!Ref Size, 2]]
  Either: !Or [!Condition Off, !Equals [!Ref Size, 3]]
  Loop: !Condition Loop
Resources: {}
Outputs:
  List: {Value: !Join [',', [a, !If [On, b, !Ref AWS::NoValue], c]]}
  Picked: {Value: !Select [1, [x, !Ref Size, z]]}
  Cidr: {Value: !FindInMap [Net, VPC, CIDR]}
  Named: {Value: !Sub 'svc-${Name}-${!Literal}'}
  Listed: {Value: !Sub ['${Own}-${Name}', {Own: !FindInMap [Net, VPC, CIDR]}]}
  Deployed: {Value: !GetAtt Thing.Arn}
  Region: {Value: !Sub '${AWS::Region}'}
";

    fn template() -> Template {
        Template::parse("eval.yml", TEMPLATE).expect("valid template")
    }

    fn output(template: &Template, values: &ParameterValues, name: &str) -> Result<Value, Error> {
        Scope::new(template, values).value(template.output(name).expect("output exists"))
    }

    #[test]
    fn conditions_follow_parameters_and_defaults() {
        let template = template();
        let defaults = ParameterValues::new();
        let on = ParameterValues::new().with("Mode", "true");
        let scope = Scope::new(&template, &defaults);
        assert!(!scope.condition("On").expect("On"));
        assert!(scope.condition("Off").expect("Off"));
        assert!(scope.condition("Either").expect("Either"));
        let scope = Scope::new(&template, &on);
        assert!(scope.condition("On").expect("On") && scope.condition("Both").expect("Both"));
        assert!(!scope.condition("Either").expect("Either"));
        let loop_error = scope.condition("Loop").expect_err("a cycle").to_string();
        assert!(loop_error.contains("refers to itself"), "{loop_error}");
    }

    #[test]
    fn values_evaluate_under_parameters() {
        let template = template();
        let values = ParameterValues::new().with("Name", "web");
        let text = |name| output(&template, &values, name).expect(name);
        assert_eq!(text("List"), Value::Text("a,c".into()));
        assert_eq!(
            output(&template, &values.clone().with("Mode", "true"), "List").expect("List"),
            Value::Text("a,b,c".into())
        );
        assert_eq!(text("Picked"), Value::Text("2".into()));
        assert_eq!(text("Cidr"), Value::Text("10.0.0.0/16".into()));
        assert_eq!(text("Named"), Value::Text("svc-web-${Literal}".into()));
        assert_eq!(text("Listed"), Value::Text("10.0.0.0/16-web".into()));
    }

    #[test]
    fn what_needs_a_deployment_is_not_guessed() {
        let template = template();
        let values = ParameterValues::new();
        for name in ["Deployed", "Region"] {
            let error = output(&template, &values, name)
                .expect_err(name)
                .to_string();
            assert!(
                error.contains("only known once the stack is deployed"),
                "{error}"
            );
        }
        let error = output(&template, &values, "Named")
            .expect_err("Name has no default")
            .to_string();
        assert!(
            error.contains("parameter Name has no value and no default"),
            "{error}"
        );
    }

    #[test]
    fn finds_the_parameters_behind_an_expression() {
        let template = template();
        let mut found = Vec::new();
        parameters_of(
            &template,
            template.output("List").expect("List"),
            &mut found,
        );
        assert_eq!(found, ["Mode"]);
        let mut found = Vec::new();
        parameters_of(
            &template,
            template.condition("Either").expect("Either"),
            &mut found,
        );
        found.sort();
        assert_eq!(found, ["Mode", "Size"]);
    }

    #[test]
    fn assignments_cover_every_allowed_value() {
        let template = template();
        let all = assignments(&template, &["Mode".into(), "Size".into()]).expect("assignments");
        let pairs: Vec<(Option<&str>, Option<&str>)> =
            all.iter().map(|v| (v.get("Mode"), v.get("Size"))).collect();
        assert_eq!(
            pairs,
            [(Some("true"), Some("2")), (Some("false"), Some("2"))]
        );
        assert!(assignments(&template, &["Name".into()]).is_err());
    }
}
