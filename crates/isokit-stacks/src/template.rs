//! CloudFormation templates as data: YAML, short-form tags included, read
//! into one tree where `!Ref X` and `{Ref: X}` look the same.

use std::fmt;

use saphyr::{LoadableYamlNode, Scalar, Yaml};

use crate::Error;

/// A template value with every intrinsic function in its long form: a map
/// with one key, `Ref`, `Condition` or `Fn::Name`.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// A number as written; CloudFormation hands numbers on as strings.
    Number(String),
    String(String),
    List(Vec<Node>),
    /// Entries in document order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` when this is a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    /// Scalars as CloudFormation sees them: strings, numbers and booleans
    /// are all text once they reach a resource.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Node::String(text) | Node::Number(text) => Some(text.clone()),
            Node::Bool(value) => Some(value.to_string()),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Node]> {
        match self {
            Node::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    /// `(name, argument)` when this node is an intrinsic function or a
    /// condition reference: `("Ref", X)`, `("Fn::If", [...])`.
    pub fn intrinsic(&self) -> Option<(&str, &Node)> {
        match self {
            Node::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                (key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
                    .then_some((key.as_str(), value))
            }
            _ => None,
        }
    }

    /// The name in `{Ref: name}`.
    pub fn as_ref_target(&self) -> Option<&str> {
        match self.intrinsic() {
            Some(("Ref", target)) => target.as_str(),
            _ => None,
        }
    }

    /// Every node in this tree, depth first, this one included.
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = vec![self];
        let mut index = 0;
        while index < out.len() {
            let node = out[index];
            match node {
                Node::List(items) => out.extend(items.iter()),
                Node::Map(entries) => out.extend(entries.iter().map(|(_, v)| v)),
                _ => {}
            }
            index += 1;
        }
        out
    }
}

impl fmt::Display for Node {
    /// A compact one-line rendering for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Null => f.write_str("null"),
            Node::Bool(value) => write!(f, "{value}"),
            Node::Number(text) => f.write_str(text),
            Node::String(text) => write!(f, "{text:?}"),
            Node::List(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Node::Map(entries) => {
                f.write_str("{")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// One parsed template, named by its file name (`isolated-vpc.yml`), which is
/// also how a parent's `TemplateURL` names it.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    body: Node,
}

/// A resource of a template.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    /// The logical ID.
    pub name: &'a str,
    /// `AWS::EC2::VPC` and so on.
    pub kind: &'a str,
    /// The condition that decides whether it is created.
    pub condition: Option<&'a str>,
    /// `Properties`, or `Null` when there are none.
    pub properties: &'a Node,
}

impl<'a> Resource<'a> {
    pub fn property(&self, key: &str) -> Option<&'a Node> {
        self.properties.get(key)
    }
}

static NULL: Node = Node::Null;

impl Template {
    /// Parses YAML (or JSON, which YAML reads too). `name` is used in messages
    /// and to match parents' `TemplateURL`s.
    pub fn parse(name: impl Into<String>, text: &str) -> Result<Template, Error> {
        let name = name.into();
        let documents = Yaml::load_from_str(text).map_err(|source| Error::Yaml {
            template: name.clone(),
            source,
        })?;
        let [document] = documents.as_slice() else {
            return Err(Error::Template {
                template: name,
                problem: format!(
                    "holds {} YAML documents; a template is exactly one",
                    documents.len()
                ),
            });
        };
        let body = convert(document).map_err(|problem| Error::Template {
            template: name.clone(),
            problem,
        })?;
        if !matches!(body, Node::Map(_)) || body.get("Resources").is_none() {
            return Err(Error::Template {
                template: name,
                problem: "is not a CloudFormation template: it has no Resources section".into(),
            });
        }
        Ok(Template { name, body })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn body(&self) -> &Node {
        &self.body
    }

    /// The entries of a top-level section (`Parameters`, `Outputs`, ...).
    pub fn section(&self, section: &str) -> &[(String, Node)] {
        self.body
            .get(section)
            .map(Node::entries)
            .unwrap_or_default()
    }

    pub fn resources(&self) -> impl Iterator<Item = Resource<'_>> {
        self.section("Resources")
            .iter()
            .map(|(name, body)| Resource {
                name,
                kind: body.get("Type").and_then(Node::as_str).unwrap_or_default(),
                condition: body.get("Condition").and_then(Node::as_str),
                properties: body.get("Properties").unwrap_or(&NULL),
            })
    }

    pub fn resource(&self, name: &str) -> Option<Resource<'_>> {
        self.resources().find(|resource| resource.name == name)
    }

    /// A parameter's declaration (`Type`, `Default`, `AllowedValues`, ...).
    pub fn parameter(&self, name: &str) -> Option<&Node> {
        self.body
            .get("Parameters")
            .and_then(|section| section.get(name))
    }

    /// An output's `Value`.
    pub fn output(&self, name: &str) -> Option<&Node> {
        self.body
            .get("Outputs")
            .and_then(|section| section.get(name))
            .and_then(|output| output.get("Value"))
    }

    pub fn condition(&self, name: &str) -> Option<&Node> {
        self.body
            .get("Conditions")
            .and_then(|section| section.get(name))
    }

    pub fn mapping(&self, name: &str) -> Option<&Node> {
        self.body
            .get("Mappings")
            .and_then(|section| section.get(name))
    }
}

/// Converts saphyr's tree, expanding short-form tags to long-form maps.
fn convert(yaml: &Yaml<'_>) -> Result<Node, String> {
    Ok(match yaml {
        Yaml::Value(scalar) => convert_scalar(scalar),
        Yaml::Representation(text, _, _) => Node::String(text.to_string()),
        Yaml::Sequence(items) => Node::List(items.iter().map(convert).collect::<Result<_, _>>()?),
        Yaml::Mapping(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match convert(key)? {
                    Node::String(text) | Node::Number(text) => text,
                    Node::Bool(value) => value.to_string(),
                    other => {
                        return Err(format!("a mapping key must be a plain scalar, not {other}"));
                    }
                };
                out.push((key, convert(value)?));
            }
            Node::Map(out)
        }
        Yaml::Tagged(tag, inner) => {
            if tag.handle != "!" {
                return Err(format!("unknown YAML tag {}{}", tag.handle, tag.suffix));
            }
            let inner = convert(inner)?;
            let key = match tag.suffix.as_str() {
                "Ref" | "Condition" => tag.suffix.clone(),
                suffix => format!("Fn::{suffix}"),
            };
            let argument = match (key.as_str(), inner) {
                // `!GetAtt Res.Attr.More` is `[Res, Attr.More]` in long form.
                ("Fn::GetAtt", Node::String(path)) => match path.split_once('.') {
                    Some((resource, attribute)) => Node::List(vec![
                        Node::String(resource.into()),
                        Node::String(attribute.into()),
                    ]),
                    None => return Err(format!("!GetAtt {path} names no attribute")),
                },
                (_, inner) => inner,
            };
            Node::Map(vec![(key, argument)])
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported by CloudFormation".into()),
        Yaml::BadValue => return Err("a value could not be read".into()),
    })
}

fn convert_scalar(scalar: &Scalar<'_>) -> Node {
    match scalar {
        Scalar::Null => Node::Null,
        Scalar::Boolean(value) => Node::Bool(*value),
        Scalar::Integer(value) => Node::Number(value.to_string()),
        Scalar::FloatingPoint(value) => Node::Number(value.to_string()),
        Scalar::String(text) => Node::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Template {
        Template::parse("t.yml", text).expect("valid template")
    }

    fn s(text: &str) -> Node {
        Node::String(text.into())
    }

    fn fun(name: &str, argument: Node) -> Node {
        Node::Map(vec![(name.into(), argument)])
    }

    #[test]
    fn short_and_long_forms_read_the_same() {
        let short = parse(
            "Resources:\n  A:\n    Type: X\n    Properties:\n      \
             R: !Ref Thing\n      G: !GetAtt Stack.Outputs.VpcId\n      \
             S: !Sub 'com.amazonaws.${AWS::Region}.s3'\n      \
             I: !If [Cond, !Select [0, !GetAZs ''], !Ref AWS::NoValue]\n      \
             J: !Join [',', [a, !Ref B]]\n",
        );
        let long = parse(
            "Resources:\n  A:\n    Type: X\n    Properties:\n      \
             R: {Ref: Thing}\n      G: {'Fn::GetAtt': [Stack, Outputs.VpcId]}\n      \
             S: {'Fn::Sub': 'com.amazonaws.${AWS::Region}.s3'}\n      \
             I: {'Fn::If': [Cond, {'Fn::Select': [0, {'Fn::GetAZs': ''}]}, {Ref: AWS::NoValue}]}\n      \
             J: {'Fn::Join': [',', [a, {Ref: B}]]}\n",
        );
        assert_eq!(short.body(), long.body());
        let resource = short.resource("A").expect("resource A");
        assert_eq!(
            resource.property("G"),
            Some(&fun(
                "Fn::GetAtt",
                Node::List(vec![s("Stack"), s("Outputs.VpcId")])
            ))
        );
        assert_eq!(
            resource.property("R").and_then(Node::as_ref_target),
            Some("Thing")
        );
    }

    #[test]
    fn scalars_keep_their_kind_and_text() {
        let template = parse(
            "Resources: {}\nParameters:\n  P: {Default: 'false', N: 256, B: true, Q: '2010-09-09'}\n",
        );
        let parameter = template.parameter("P").expect("parameter P");
        assert_eq!(parameter.get("Default"), Some(&s("false")));
        assert_eq!(parameter.get("N"), Some(&Node::Number("256".into())));
        assert_eq!(
            parameter.get("B").and_then(Node::as_text).as_deref(),
            Some("true")
        );
        assert_eq!(parameter.get("Q"), Some(&s("2010-09-09")));
    }

    #[test]
    fn keeps_document_order() {
        let template =
            parse("Resources:\n  Zed: {Type: A}\n  Alpha: {Type: B}\n  Mid: {Type: C}\n");
        let names: Vec<&str> = template.resources().map(|r| r.name).collect();
        assert_eq!(names, ["Zed", "Alpha", "Mid"]);
    }

    #[test]
    fn rejects_what_is_not_a_template() {
        for (text, expected) in [
            ("Resources: [unclosed", "not valid YAML"),
            ("Description: no resources\n", "no Resources section"),
            ("Resources: {}\n---\nResources: {}\n", "2 YAML documents"),
            (
                "Resources:\n  A: {Type: X}\n  A: {Type: Y}\n",
                "not valid YAML",
            ),
            ("Resources:\n  A: !GetAtt Lonely\n", "names no attribute"),
        ] {
            let error = Template::parse("bad.yml", text)
                .expect_err(text)
                .to_string();
            assert!(
                error.contains("bad.yml") && error.contains(expected),
                "{text:?} gave {error}"
            );
        }
    }
}
