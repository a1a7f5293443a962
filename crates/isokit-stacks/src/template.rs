//! CloudFormation templates as data: YAML (short-form tags included) or
//! JSON, read into one tree where `!Ref X` and `{Ref: X}` look the same, with
//! the line each resource starts on, for reports that point into the file.

use std::fmt;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// One parsed template, named by its path within the set it belongs to
/// (`isolated-vpc.yml`, `nested/network.json`), which is also how a parent's
/// local `TemplateURL` names it.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    body: Node,
    /// The line (1-based) each resource's logical ID is written on.
    resource_lines: Vec<(String, usize)>,
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
    /// `Metadata`, or `Null` when there is none.
    pub metadata: &'a Node,
    /// The line its logical ID is written on.
    pub line: Option<usize>,
}

impl<'a> Resource<'a> {
    pub fn property(&self, key: &str) -> Option<&'a Node> {
        self.properties.get(key)
    }
}

static NULL: Node = Node::Null;

impl Template {
    /// Parses a template. Text that opens with `{` is read as JSON, as
    /// CloudFormation reads it, unless it is not JSON (YAML's flow style
    /// opens the same way); anything else is YAML. `name` is used in
    /// messages and to match parents' `TemplateURL`s.
    pub fn parse(name: impl Into<String>, text: &str) -> Result<Template, Error> {
        let name = name.into();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (body, resource_lines) = if text.trim_start().starts_with('{') {
            match parse_json(text) {
                Ok(body) => (body, json_resource_lines(text)),
                Err(source) if name.ends_with(".json") => {
                    return Err(Error::Json {
                        template: name,
                        source,
                    });
                }
                Err(_) => parse_yaml(&name, text)?,
            }
        } else {
            parse_yaml(&name, text)?
        };
        if !matches!(body, Node::Map(_)) || body.get("Resources").is_none() {
            return Err(Error::NotATemplate { template: name });
        }
        Ok(Template {
            name,
            body,
            resource_lines,
        })
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
                metadata: body.get("Metadata").unwrap_or(&NULL),
                line: self.line_of(name),
            })
    }

    /// The line a resource's logical ID is written on.
    pub fn line_of(&self, resource: &str) -> Option<usize> {
        self.resource_lines
            .iter()
            .find(|(name, _)| name == resource)
            .map(|(_, line)| *line)
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

/// Reads YAML: exactly one document, with the line of each resource.
fn parse_yaml(name: &str, text: &str) -> Result<(Node, Vec<(String, usize)>), Error> {
    let documents = MarkedYaml::load_from_str(text).map_err(|source| Error::Yaml {
        template: name.to_owned(),
        source,
    })?;
    let [document] = documents.as_slice() else {
        return Err(Error::Template {
            template: name.to_owned(),
            problem: format!(
                "holds {} YAML documents; a template is exactly one",
                documents.len()
            ),
        });
    };
    let problem = |problem| Error::Template {
        template: name.to_owned(),
        problem,
    };
    let mut resource_lines = Vec::new();
    if let YamlData::Mapping(sections) = &document.data {
        for (key, value) in sections {
            if convert(key).map_err(problem)? != Node::String("Resources".into()) {
                continue;
            }
            if let YamlData::Mapping(resources) = &value.data {
                for logical_id in resources.keys() {
                    if let Some(id) = convert(logical_id).map_err(problem)?.as_text() {
                        resource_lines.push((id, logical_id.span.start.line()));
                    }
                }
            }
        }
    }
    Ok((convert(document).map_err(problem)?, resource_lines))
}

/// Converts saphyr's tree, expanding short-form tags to long-form maps.
fn convert(yaml: &MarkedYaml<'_>) -> Result<Node, String> {
    Ok(match &yaml.data {
        YamlData::Value(scalar) => convert_scalar(scalar),
        YamlData::Representation(text, _, _) => Node::String(text.to_string()),
        YamlData::Sequence(items) => {
            Node::List(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(entries) => {
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
        YamlData::Tagged(tag, inner) => {
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
        YamlData::Alias(_) => {
            return Err("YAML aliases are not supported by CloudFormation".into());
        }
        YamlData::BadValue => return Err("a value could not be read".into()),
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

/// A JSON text (a policy document written as a string, say) as a [`Node`].
pub(crate) fn parse_json(text: &str) -> Result<Node, serde_json::Error> {
    serde_json::from_str::<JsonNode>(text).map(|JsonNode(node)| node)
}

/// A JSON document read straight into a [`Node`], keeping the order of
/// keys (the order resources are reported in) and refusing a key given
/// twice, as CloudFormation does.
struct JsonNode(Node);

impl<'de> Deserialize<'de> for JsonNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(JsonNode)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Number(value.to_string()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Number(value.to_string()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Number(value.to_string()))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node, E> {
        Ok(Node::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Node, E> {
        Ok(Node::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Node, A::Error> {
        let mut list = Vec::new();
        while let Some(JsonNode(item)) = items.next_element()? {
            list.push(item);
        }
        Ok(Node::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Node, A::Error> {
        let mut map: Vec<(String, Node)> = Vec::new();
        while let Some((key, JsonNode(value))) = entries.next_entry::<String, JsonNode>()? {
            if map.iter().any(|(known, _)| *known == key) {
                return Err(de::Error::custom(format!("the key {key:?} is given twice")));
            }
            map.push((key, value));
        }
        Ok(Node::Map(map))
    }
}

/// The line of each key of the top-level `Resources` object of a JSON text
/// already known to be valid: one pass that skips strings and tracks which
/// object it is in.
fn json_resource_lines(text: &str) -> Vec<(String, usize)> {
    // Per open container: whether it is the top-level Resources object.
    let mut open: Vec<bool> = Vec::new();
    let mut top_level_key: Option<String> = None;
    let mut lines = Vec::new();
    let mut line = 1;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\n' => line += 1,
            '{' | '[' => {
                let resources =
                    c == '{' && open.len() == 1 && top_level_key.as_deref() == Some("Resources");
                open.push(resources);
            }
            '}' | ']' => {
                open.pop();
            }
            '"' => {
                let mut end = at + 1;
                while let Some((index, c)) = chars.next() {
                    end = index + c.len_utf8();
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                // A string followed by a colon is a key.
                let rest = text[end..].trim_start_matches([' ', '\t', '\r', '\n']);
                if !rest.starts_with(':') {
                    continue;
                }
                let Ok(key) = serde_json::from_str::<String>(&text[at..end]) else {
                    continue;
                };
                match open.as_slice() {
                    [_] => top_level_key = Some(key),
                    [_, true] => lines.push((key, line)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    lines
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

    fn lines(template: &Template) -> Vec<(&str, Option<usize>)> {
        template.resources().map(|r| (r.name, r.line)).collect()
    }

    #[test]
    fn each_resource_knows_the_line_its_logical_id_is_on_in_yaml() {
        let template = parse(
            "# a comment\nParameters:\n  Resources: {Type: String}\nResources:\n  \
             # Gateway: commented out\n  Vpc:\n    Type: AWS::EC2::VPC\n\n  'Quoted':\n    \
             Type: X\n    Properties:\n      Resources: [1]\n  \"Double\": {Type: Y}\n  \
             ? Explicit\n  : Type: Z\n  Tagged: !If [C, {Type: A}, {Type: B}]\nOutputs:\n  \
             Vpc: {Value: !Ref Vpc}\n",
        );
        assert_eq!(
            lines(&template),
            [
                ("Vpc", Some(6)),
                ("Quoted", Some(9)),
                ("Double", Some(13)),
                ("Explicit", Some(14)),
                ("Tagged", Some(16)),
            ]
        );
        let flow = parse("Resources: {A: {Type: X},\n  B: {Type: Y}}\n");
        assert_eq!(lines(&flow), [("A", Some(1)), ("B", Some(2))]);
    }

    #[test]
    fn json_is_read_fully_with_the_line_of_each_resource() {
        // Tabs, escapes YAML parsers refuse (a surrogate pair), keys that
        // look like the Resources section inside strings and deeper objects.
        let text = "\u{feff}{\n\t\"Description\": \"\\\"Resources\\\": {} \\ud83d\\ude00\",\n\
                    \t\"Parameters\": {\"Resources\": {\"Type\": \"String\"}},\n\
                    \t\"Resources\" :\n\t{\n\t\t\"Vpc\": {\"Type\": \"AWS::EC2::VPC\", \
                    \"Properties\": {\"CidrBlock\": \"10.0.0.0/16\", \"Tags\": [{\"Key\": \"a\\/b\"}]}},\n\
                    \t\t\"Sub\\u006eet\":{\"Type\":\"AWS::EC2::Subnet\",\"Properties\":{\"MapPublicIpOnLaunch\":false,\"N\":1.5}}\n\
                    \t},\n\t\"Outputs\": {\"Vpc\": {\"Value\": {\"Ref\": \"Vpc\"}}}\n}\n";
        let template = Template::parse("t.json", text).expect("valid JSON template");
        assert_eq!(lines(&template), [("Vpc", Some(6)), ("Subnet", Some(7))]);
        let subnet = template.resource("Subnet").expect("Subnet");
        assert_eq!(
            subnet.property("MapPublicIpOnLaunch"),
            Some(&Node::Bool(false))
        );
        assert_eq!(subnet.property("N"), Some(&Node::Number("1.5".into())));
        assert!(
            template
                .body()
                .get("Description")
                .and_then(Node::as_str)
                .is_some_and(|text| text.ends_with('\u{1f600}'))
        );
        // The same template in YAML reads the same.
        let yaml = parse(
            "Description: \"\\\"Resources\\\": {} \\U0001F600\"\nParameters: {Resources: {Type: String}}\n\
             Resources:\n  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16, Tags: [{Key: a/b}]}}\n  \
             Subnet: {Type: AWS::EC2::Subnet, Properties: {MapPublicIpOnLaunch: false, N: 1.5}}\n\
             Outputs: {Vpc: {Value: !Ref Vpc}}\n",
        );
        assert_eq!(yaml.body(), template.body());
    }

    #[test]
    fn a_flow_style_yaml_template_is_not_taken_for_json() {
        let template = parse("{Resources: {A: {Type: !Ref T}}}");
        assert_eq!(lines(&template), [("A", Some(1))]);
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
            ("[1, 2]", "no Resources section"),
        ] {
            let error = Template::parse("bad.yml", text)
                .expect_err(text)
                .to_string();
            assert!(
                error.contains("bad.yml") && error.contains(expected),
                "{text:?} gave {error}"
            );
        }
        for (text, expected) in [
            ("{\"Resources\": {\"A\": {}, \"A\": {}}}", "not valid JSON"),
            ("{\"Resources\": {}", "not valid JSON"),
        ] {
            let error = Template::parse("bad.json", text)
                .expect_err(text)
                .to_string();
            assert!(error.contains(expected), "{text:?} gave {error}");
        }
    }
}
