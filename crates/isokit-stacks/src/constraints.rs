//! Template parameter values checked as CloudFormation checks them
//! (`AllowedValues`, `AllowedPattern`, `MinLength`/`MaxLength`, numbers and
//! their bounds, list items), and stack names checked against
//! CloudFormation's rule, so that a bad value fails in a second, before SAM
//! uploads anything, instead of minutes into a deployment.

use regex::Regex;

use crate::Error;
use crate::template::Node;

/// CloudFormation's longest stack name.
const STACK_NAME_MAX: usize = 128;

/// Checks `name` against CloudFormation's rule for stack names: a letter,
/// then letters, digits and hyphens, at most 128 characters.
pub fn validate_stack_name(name: &str) -> Result<(), Error> {
    let problem = if name.is_empty() {
        "it is empty".to_owned()
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        "it does not start with a letter".to_owned()
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        format!("it holds {bad:?}")
    } else if name.len() > STACK_NAME_MAX {
        format!("it is {} characters long", name.len())
    } else {
        return Ok(());
    };
    Err(Error::InvalidStackName {
        name: name.to_owned(),
        problem,
    })
}

/// Whether a parameter is declared `NoEcho`: its value is never shown.
pub(crate) fn is_no_echo(declared: &Node) -> bool {
    declared
        .get("NoEcho")
        .and_then(Node::as_text)
        .is_some_and(|flag| flag.eq_ignore_ascii_case("true"))
}

/// One parameter's declaration, as a template states it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declaration<'a> {
    /// The template, as messages name it.
    pub(crate) template: &'a str,
    pub(crate) name: &'a str,
    pub(crate) node: &'a Node,
    /// The value must not be shown: the parameter is `NoEcho`, or the value
    /// comes from one that is.
    pub(crate) hidden: bool,
}

impl Declaration<'_> {
    /// Checks `value` against every constraint CloudFormation applies to
    /// this parameter's type.
    pub(crate) fn check(&self, value: &str) -> Result<(), Error> {
        let kind = self
            .node
            .get("Type")
            .and_then(Node::as_str)
            .unwrap_or("String");
        match kind {
            "String" => {
                self.check_allowed_values(Subject::Value(value))?;
                self.check_pattern(Subject::Value(value))?;
                self.check_length(value)
            }
            "Number" => {
                self.check_allowed_values(Subject::Value(value))?;
                self.check_number(Subject::Value(value))
            }
            // CloudFormation applies these to each item of the list, with
            // the spaces around it trimmed.
            "CommaDelimitedList" => items(value).try_for_each(|item| {
                self.check_allowed_values(item)?;
                self.check_pattern(item)
            }),
            "List<Number>" => items(value).try_for_each(|item| self.check_number(item)),
            // AWS-specific types (`AWS::EC2::VPC::Id`, SSM parameter types)
            // are checked by CloudFormation against the account.
            _ => Ok(()),
        }
    }

    fn refuse(&self, subject: Subject<'_>, rule: String) -> Error {
        let what = match (self.hidden, subject) {
            (true, _) => "cannot be the value given (not shown: NoEcho)".to_owned(),
            (false, Subject::Value(value)) => format!("cannot be {value:?}"),
            (false, Subject::Item(item)) => format!("cannot hold the item {item:?}"),
        };
        Error::ParameterNotAllowed {
            template: self.template.to_owned(),
            name: self.name.to_owned(),
            what,
            rule,
            constraint: self
                .node
                .get("ConstraintDescription")
                .and_then(Node::as_text),
        }
    }

    fn check_allowed_values(&self, subject: Subject<'_>) -> Result<(), Error> {
        let Some(allowed) = self.node.get("AllowedValues").and_then(Node::as_list) else {
            return Ok(());
        };
        let allowed: Vec<String> = allowed.iter().filter_map(Node::as_text).collect();
        if allowed.iter().any(|candidate| candidate == subject.text()) {
            return Ok(());
        }
        Err(self.refuse(subject, format!("allows one of {}", allowed.join(", "))))
    }

    /// `AllowedPattern` must match the whole value. CloudFormation reads it
    /// as a Java regular expression; the common syntax reads the same in
    /// Rust's `regex`, and what `regex` cannot read (look-around,
    /// back-references, possessive quantifiers) is refused, never skipped.
    fn check_pattern(&self, subject: Subject<'_>) -> Result<(), Error> {
        let Some(pattern) = self.node.get("AllowedPattern").and_then(Node::as_text) else {
            return Ok(());
        };
        let uncheckable = |source| Error::UncheckablePattern {
            template: self.template.to_owned(),
            name: self.name.to_owned(),
            pattern: pattern.clone(),
            source,
        };
        // Compiled alone first, so that an unbalanced pattern such as
        // `a)|(b` is refused rather than balanced by the anchoring group.
        Regex::new(&pattern).map_err(uncheckable)?;
        let whole = Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(uncheckable)?;
        if whole.is_match(subject.text()) {
            return Ok(());
        }
        Err(self.refuse(
            subject,
            format!("requires the whole value to match the pattern {pattern}"),
        ))
    }

    /// Lengths count UTF-16 code units, as CloudFormation (Java) does.
    fn check_length(&self, value: &str) -> Result<(), Error> {
        let bound = |key| {
            self.node
                .get(key)
                .and_then(Node::as_text)
                .and_then(|text| text.parse::<usize>().ok())
        };
        let (min, max) = (bound("MinLength"), bound("MaxLength"));
        let length = value.encode_utf16().count();
        if min.is_none_or(|min| length >= min) && max.is_none_or(|max| length <= max) {
            return Ok(());
        }
        let rule = match (min, max) {
            (Some(min), Some(max)) => format!("allows {min} to {max} characters"),
            (Some(min), None) => format!("allows at least {min} characters"),
            (None, Some(max)) => format!("allows at most {max} characters"),
            (None, None) => unreachable!("a length within no bounds is always allowed"),
        };
        Err(self.refuse(Subject::Value(value), rule))
    }

    /// A number; `MinValue` and `MaxValue` bound a `Number`, not the items
    /// of a `List<Number>`.
    fn check_number(&self, subject: Subject<'_>) -> Result<(), Error> {
        let bound = |key| {
            matches!(subject, Subject::Value(_))
                .then(|| self.node.get(key).and_then(Node::as_text))
                .flatten()
                .and_then(|text| text.parse::<f64>().ok())
        };
        let (min, max) = (bound("MinValue"), bound("MaxValue"));
        let in_range = subject.text().parse::<f64>().is_ok_and(|number| {
            number.is_finite()
                && min.is_none_or(|min| number >= min)
                && max.is_none_or(|max| number <= max)
        });
        if in_range {
            return Ok(());
        }
        let rule = match (min, max) {
            (Some(min), Some(max)) => format!("allows a number from {min} to {max}"),
            (Some(min), None) => format!("allows a number of at least {min}"),
            (None, Some(max)) => format!("allows a number of at most {max}"),
            (None, None) => "allows only numbers".to_owned(),
        };
        Err(self.refuse(subject, rule))
    }
}

/// What a refusal is about: the whole value, or one item of a list.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    Value(&'a str),
    Item(&'a str),
}

impl<'a> Subject<'a> {
    fn text(self) -> &'a str {
        match self {
            Subject::Value(text) | Subject::Item(text) => text,
        }
    }
}

/// A list parameter's items, as CloudFormation splits them.
fn items(value: &str) -> impl Iterator<Item = Subject<'_>> {
    value.split(',').map(|item| Subject::Item(item.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    const TEMPLATE: &str = r"
Parameters:
  Name:
    Type: String
    AllowedPattern: '[a-z][a-z0-9-]*'
    ConstraintDescription: lower-case letters, digits and hyphens, starting with a letter
  Sized: {Type: String, MinLength: 2, MaxLength: 4}
  Choice: {Type: String, AllowedValues: [red, green]}
  Count: {Type: Number, MinValue: 1, MaxValue: 10}
  Size: {Type: Number, AllowedValues: [256, 512]}
  Zones: {Type: CommaDelimitedList, AllowedValues: [a, b, c]}
  Hosts: {Type: CommaDelimitedList, AllowedPattern: '[a-z]+\.example'}
  Ports: {Type: List<Number>}
  Secret: {Type: String, NoEcho: true, MinLength: 8, AllowedPattern: '\S+'}
  Vpc: {Type: 'AWS::EC2::VPC::Id', AllowedPattern: 'vpc-.*'}
  Ahead: {Type: String, AllowedPattern: '(?=a)ab'}
  Unbalanced: {Type: String, AllowedPattern: 'a)|(b'}
Resources: {}
";

    fn check(name: &str, value: &str) -> Result<(), String> {
        let template = Template::parse("t.yml", TEMPLATE).expect("valid template");
        let node = template.parameter(name).expect("declared");
        Declaration {
            template: "t.yml",
            name,
            node,
            hidden: is_no_echo(node),
        }
        .check(value)
        .map_err(|error| error.to_string())
    }

    #[test]
    fn a_pattern_must_match_the_whole_value() {
        assert_eq!(check("Name", "web-1"), Ok(()));
        for value in ["Web", "web 1", "1web", "web\n", ""] {
            let error = check("Name", value).expect_err(value);
            assert_eq!(
                error,
                format!(
                    "parameter Name cannot be {value:?}: t.yml requires the whole value to match the \
                     pattern [a-z][a-z0-9-]* (lower-case letters, digits and hyphens, starting with a letter)"
                )
            );
        }
    }

    #[test]
    fn lengths_bound_strings() {
        assert_eq!(check("Sized", "ab"), Ok(()));
        assert_eq!(check("Sized", "abcd"), Ok(()));
        // One UTF-16 unit each, as CloudFormation counts.
        assert_eq!(check("Sized", "éé"), Ok(()));
        for value in ["a", "abcde"] {
            let error = check("Sized", value).expect_err(value);
            assert_eq!(
                error,
                format!("parameter Sized cannot be {value:?}: t.yml allows 2 to 4 characters")
            );
        }
        // Two UTF-16 units each.
        assert!(check("Sized", "😀😀😀").is_err());
    }

    #[test]
    fn allowed_values_and_numbers() {
        assert_eq!(check("Choice", "red"), Ok(()));
        assert_eq!(
            check("Choice", "Red"),
            Err("parameter Choice cannot be \"Red\": t.yml allows one of red, green".into())
        );
        assert_eq!(check("Count", "10"), Ok(()));
        assert_eq!(check("Count", "2.5"), Ok(()));
        for value in ["0", "11", "ten", "inf", "NaN", ""] {
            let error = check("Count", value).expect_err(value);
            assert!(
                error.ends_with("t.yml allows a number from 1 to 10"),
                "{error}"
            );
        }
        assert_eq!(check("Size", "512"), Ok(()));
        assert!(
            check("Size", "1024")
                .expect_err("not allowed")
                .ends_with("allows one of 256, 512")
        );
    }

    #[test]
    fn list_items_are_checked_one_by_one() {
        assert_eq!(check("Zones", "a,b"), Ok(()));
        assert_eq!(check("Zones", "a, c"), Ok(()));
        assert_eq!(
            check("Zones", "a,d"),
            Err("parameter Zones cannot hold the item \"d\": t.yml allows one of a, b, c".into())
        );
        assert_eq!(check("Hosts", "web.example,db.example"), Ok(()));
        assert!(
            check("Hosts", "web.example,db.example.org")
                .expect_err("second item")
                .starts_with("parameter Hosts cannot hold the item \"db.example.org\"")
        );
        assert_eq!(check("Ports", "80, 443"), Ok(()));
        assert_eq!(
            check("Ports", "80,https"),
            Err("parameter Ports cannot hold the item \"https\": t.yml allows only numbers".into())
        );
        // CloudFormation checks AWS-specific types against the account.
        assert_eq!(check("Vpc", "anything"), Ok(()));
    }

    #[test]
    fn a_no_echo_value_is_never_shown() {
        assert_eq!(check("Secret", "long-enough"), Ok(()));
        for value in ["short", "has space"] {
            let error = check("Secret", value).expect_err(value);
            assert!(
                error.starts_with(
                    "parameter Secret cannot be the value given (not shown: NoEcho): t.yml"
                ),
                "{error}"
            );
            assert!(!error.contains(value), "{error}");
        }
    }

    #[test]
    fn a_pattern_regex_cannot_read_is_refused_with_the_reason() {
        for name in ["Ahead", "Unbalanced"] {
            let error = check(name, "ab").expect_err("uncheckable");
            assert!(
                error.starts_with("t.yml declares AllowedPattern `"),
                "{error}"
            );
            assert!(
                error.contains(&format!("for parameter {name}, which isokit cannot check"))
                    && error.contains("look-around"),
                "{error}"
            );
        }
    }

    #[test]
    fn stack_names_follow_cloudformations_rule() {
        for good in ["a", "isolated-vpc-environment", "A1-b2", &"a".repeat(128)] {
            assert!(validate_stack_name(good).is_ok(), "{good}");
        }
        for (bad, problem) in [
            ("", "it is empty"),
            ("1stack", "it does not start with a letter"),
            ("-stack", "it does not start with a letter"),
            ("my_stack", "it holds '_'"),
            ("my stack", "it holds ' '"),
            ("stäck", "it holds 'ä'"),
            (&"a".repeat(129), "it is 129 characters long"),
        ] {
            let error = validate_stack_name(bad).expect_err(bad).to_string();
            assert_eq!(
                error,
                format!(
                    "{bad:?} is not a CloudFormation stack name ({problem}): a stack name starts with \
                     a letter and holds only letters, digits and hyphens, at most 128 characters"
                )
            );
        }
    }
}
