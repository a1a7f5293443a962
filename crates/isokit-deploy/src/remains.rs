//! What a teardown leaves in the account, said so that nothing stays
//! behind unknowingly: the ECR repository of the stack's image (unless it
//! was deleted), and the S3 bucket SAM uploaded the nested templates to.

use isokit_aws::{Aws, ImageUri, Stack};
use isokit_stacks::Template;
use serde::Serialize;

use crate::Error;

/// One thing a teardown does not remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remaining {
    /// `ecr_repository` or `s3_bucket`.
    pub kind: &'static str,
    pub name: String,
    /// What it holds, and how to remove it.
    pub note: String,
}

/// What the stack's deployment made that its deletion leaves, read before
/// the stack goes: the repository its `ImageUri` names, and the buckets its
/// nested stacks' `TemplateURL`s name.
pub(crate) async fn left_by(aws: &Aws, stack: &Stack) -> Result<Vec<Remaining>, Error> {
    let mut remaining = Vec::new();
    if let Some(uri) = stack
        .parameters
        .get("ImageUri")
        .and_then(|uri| ImageUri::parse(uri).ok())
    {
        remaining.push(Remaining {
            kind: "ecr_repository",
            note: format!(
                "its images stay, and are billed for storage; `isokit teardown --delete-repo {0}` \
                 removes it with them",
                uri.repository
            ),
            name: uri.repository,
        });
    }
    let template = aws.stacks().template(&stack.id).await?.unwrap_or_default();
    for bucket in artifact_buckets(&template) {
        remaining.push(Remaining {
            kind: "s3_bucket",
            note: "SAM uploaded the nested templates here, and may share it with other \
                   deployments (its managed bucket does): empty and delete it only if nothing \
                   else uses it"
                .to_owned(),
            name: bucket,
        });
    }
    Ok(remaining)
}

/// The buckets a packaged template's nested stacks are read from, in
/// template order, each once.
fn artifact_buckets(template: &str) -> Vec<String> {
    let Ok(template) = Template::parse("parent.yml", template) else {
        return Vec::new();
    };
    let mut buckets: Vec<String> = Vec::new();
    for resource in template.resources() {
        let Some(url) = resource
            .property("TemplateURL")
            .and_then(|url| url.as_str())
        else {
            continue;
        };
        if let Some(bucket) = bucket_of(url)
            && !buckets.contains(&bucket)
        {
            buckets.push(bucket);
        }
    }
    buckets
}

/// The bucket of an S3 object URL: path style (`https://s3.<region>.…/
/// <bucket>/<key>`, as SAM writes them) or virtual-hosted
/// (`https://<bucket>.s3.<region>.…/<key>`).
fn bucket_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    if host.starts_with("s3.") || host.starts_with("s3-") {
        let bucket = path.split('/').next()?;
        (!bucket.is_empty()).then(|| bucket.to_owned())
    } else {
        host.split_once(".s3.")
            .or_else(|| host.split_once(".s3-"))
            .map(|(bucket, _)| bucket.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_read_from_both_styles_of_s3_url() {
        assert_eq!(
            bucket_of(
                "https://s3.eu-west-1.amazonaws.com/aws-sam-cli-managed-default-samclisourcebucket-1x/3f2a.template"
            ),
            Some("aws-sam-cli-managed-default-samclisourcebucket-1x".to_owned())
        );
        assert_eq!(
            bucket_of("https://artifacts.s3.eu-west-1.amazonaws.com/3f2a.template"),
            Some("artifacts".to_owned())
        );
        assert_eq!(bucket_of("isolated-vpc.yml"), None);
    }

    #[test]
    fn a_packaged_parent_names_its_bucket_once() {
        let packaged = "Resources:\n  VpcStack:\n    Type: AWS::CloudFormation::Stack\n    \
            Properties:\n      TemplateURL: https://s3.us-east-1.amazonaws.com/artifacts/a.template\n  \
            ClusterStack:\n    Type: AWS::CloudFormation::Stack\n    \
            Properties:\n      TemplateURL: https://s3.us-east-1.amazonaws.com/artifacts/b.template\n";
        assert_eq!(artifact_buckets(packaged), ["artifacts".to_owned()]);
        assert_eq!(artifact_buckets("not: [a template"), Vec::<String>::new());
    }
}
