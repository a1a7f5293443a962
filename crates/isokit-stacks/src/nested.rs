//! Where a nested stack's template lives: `TemplateURL` of an
//! `AWS::CloudFormation::Stack`, `Location` of a SAM
//! `AWS::Serverless::Application`. A local path names a file beside the
//! parent, which SAM uploads when it packages the parent; anything else is
//! fetched by CloudFormation or SAM at deploy time.

use crate::template::{Node, Resource};

/// A nested stack's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NestedTemplate {
    /// A file, named by its path within the set (relative to the parent's
    /// folder, resolved: `nested/../vpc.yml` is `vpc.yml`).
    Local(String),
    /// Fetched when deployed; the words say from where.
    Remote(String),
}

/// The template `resource` of the template named `parent` nests, if it is a
/// nested stack.
pub(crate) fn nested_template(parent: &str, resource: &Resource<'_>) -> Option<NestedTemplate> {
    let location = match resource.kind {
        "AWS::CloudFormation::Stack" => resource.property("TemplateURL")?,
        "AWS::Serverless::Application" => resource.property("Location")?,
        _ => return None,
    };
    Some(match location {
        Node::String(path) if !path.contains("://") => {
            NestedTemplate::Local(relative_to(parent, path))
        }
        Node::String(url) => NestedTemplate::Remote(url.clone()),
        // SAM's form for the Serverless Application Repository.
        Node::Map(_) if location.get("ApplicationId").is_some() => {
            let field = |key| {
                location
                    .get(key)
                    .map_or_else(|| "?".to_owned(), ToString::to_string)
            };
            NestedTemplate::Remote(format!(
                "the Serverless Application Repository (ApplicationId {}, SemanticVersion {})",
                field("ApplicationId"),
                field("SemanticVersion")
            ))
        }
        other => NestedTemplate::Remote(format!("{other}, worked out when deployed")),
    })
}

/// `path` as seen from the folder of the template named `parent`, with `.`
/// and `..` resolved as far as the names allow.
pub(crate) fn relative_to(parent: &str, path: &str) -> String {
    let mut parts: Vec<&str> = parent.split('/').collect();
    // The parent's own file name.
    parts.pop();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    #[test]
    fn paths_resolve_from_the_parents_folder() {
        assert_eq!(relative_to("parent.yml", "vpc.yml"), "vpc.yml");
        assert_eq!(
            relative_to("parent.yml", "./nested/vpc.yml"),
            "nested/vpc.yml"
        );
        assert_eq!(relative_to("nested/app.yml", "../vpc.yml"), "vpc.yml");
        assert_eq!(
            relative_to("nested/app.yml", "more/../db.yml"),
            "nested/db.yml"
        );
        assert_eq!(
            relative_to("parent.yml", "../shared/vpc.yml"),
            "../shared/vpc.yml"
        );
        assert_eq!(relative_to("../a/p.yml", "../../b.yml"), "../../b.yml");
    }

    #[test]
    fn local_and_remote_nested_templates_are_told_apart() {
        let template = Template::parse(
            "dir/parent.yml",
            "Resources:\n  \
             Local: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: ./vpc.json}}\n  \
             App: {Type: AWS::Serverless::Application, Properties: {Location: ../app/template.yaml}}\n  \
             Url: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: 'https://b.s3.amazonaws.com/t.yml'}}\n  \
             Sar:\n    Type: AWS::Serverless::Application\n    Properties:\n      \
             Location: {ApplicationId: 'arn:aws:serverlessrepo:us-east-1:123456789012:applications/x', SemanticVersion: 1.0.0}\n  \
             Built: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: !Sub 'https://${B}/t.yml'}}\n  \
             Vpc: {Type: AWS::EC2::VPC}\n",
        )
        .expect("valid template");
        let found: Vec<Option<NestedTemplate>> = template
            .resources()
            .map(|resource| nested_template(template.name(), &resource))
            .collect();
        assert_eq!(
            found,
            [
                Some(NestedTemplate::Local("dir/vpc.json".into())),
                Some(NestedTemplate::Local("app/template.yaml".into())),
                Some(NestedTemplate::Remote(
                    "https://b.s3.amazonaws.com/t.yml".into()
                )),
                Some(NestedTemplate::Remote(
                    "the Serverless Application Repository (ApplicationId \
                     \"arn:aws:serverlessrepo:us-east-1:123456789012:applications/x\", \
                     SemanticVersion \"1.0.0\")"
                        .into()
                )),
                Some(NestedTemplate::Remote(
                    "{Fn::Sub: \"https://${B}/t.yml\"}, worked out when deployed".into()
                )),
                None,
            ]
        );
    }
}
