//! A folder of templates as a user brings it, whatever its files are
//! called: every template file in it, and every local template they nest,
//! wherever it lies.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::Path;

use crate::Error;
use crate::nested::{NestedTemplate, nested_template};
use crate::template::Template;

/// What files in the folder may be templates.
const TEMPLATE_EXTENSIONS: [&str; 4] = ["yml", "yaml", "json", "template"];

/// The templates read from a folder, each named by its path relative to it.
#[derive(Debug, Clone)]
pub struct TemplateDir {
    /// The folder's own templates in file-name order, then the nested
    /// templates they reach, in the order found.
    pub templates: Vec<Template>,
    /// Files in the folder that read as YAML or JSON but have no
    /// `Resources` section (build specs, parameter files, ...).
    pub not_templates: Vec<String>,
}

/// Reads every `.yml`, `.yaml`, `.json` and `.template` file directly in
/// `dir`, and the local templates nested stacks and SAM applications name,
/// followed from each parent's folder. A file that is not valid YAML or
/// JSON is an error, since a template with a typo must not pass unjudged;
/// a nested template that does not exist is left for the audit to report.
pub fn read_template_dir(dir: &Path) -> Result<TemplateDir, Error> {
    let read_error = |source| Error::Read {
        path: dir.to_owned(),
        source,
    };
    let mut own: Vec<String> = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_template_file = Path::new(&name)
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                TEMPLATE_EXTENSIONS
                    .iter()
                    .any(|known| extension.eq_ignore_ascii_case(known))
            });
        if is_template_file && entry.path().is_file() {
            own.push(name);
        }
    }
    own.sort();
    let mut read = TemplateDir {
        templates: Vec::new(),
        not_templates: Vec::new(),
    };
    let mut queue: VecDeque<(String, bool)> = own.into_iter().map(|name| (name, true)).collect();
    let mut seen: Vec<String> = queue.iter().map(|(name, _)| name.clone()).collect();
    while let Some((name, in_folder)) = queue.pop_front() {
        let path = dir.join(&name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) if !in_folder && source.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Read { path, source }),
        };
        let template = match Template::parse(name.clone(), &text) {
            Ok(template) => template,
            Err(Error::NotATemplate { .. }) if in_folder => {
                read.not_templates.push(name);
                continue;
            }
            Err(error) => return Err(error),
        };
        for resource in template.resources() {
            if let Some(NestedTemplate::Local(child)) = nested_template(template.name(), &resource)
                && !seen.contains(&child)
            {
                seen.push(child.clone());
                queue.push_back((child, false));
            }
        }
        read.templates.push(template);
    }
    if read.templates.is_empty() {
        return Err(Error::NoTemplates {
            dir: dir.to_owned(),
        });
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn reads_the_folders_templates_and_the_local_ones_they_nest() {
        let root = tempfile::tempdir().expect("temporary directory");
        let dir = root.path().join("set");
        write(
            &dir,
            "main.yaml",
            "Resources:\n  Net: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: nested/net.json}}\n  \
             Gone: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: missing.yml}}\n",
        );
        write(
            &dir,
            "nested/net.json",
            "{\"Resources\": {\"App\": {\"Type\": \"AWS::Serverless::Application\", \
             \"Properties\": {\"Location\": \"../../shared/app.yml\"}}}}",
        );
        write(
            root.path(),
            "shared/app.yml",
            "Resources:\n  Vpc: {Type: AWS::EC2::VPC}\n",
        );
        write(&dir, "buildspec.yml", "version: 0.2\nphases: {}\n");
        write(&dir, "README.md", "# not a template\n");
        write(&dir, "other.TEMPLATE", "Resources: {}\n");
        let read = read_template_dir(&dir).expect("readable");
        let names: Vec<&str> = read.templates.iter().map(Template::name).collect();
        assert_eq!(
            names,
            [
                "main.yaml",
                "other.TEMPLATE",
                "nested/net.json",
                "../shared/app.yml"
            ]
        );
        assert_eq!(read.not_templates, ["buildspec.yml"]);
    }

    #[test]
    fn a_folder_without_templates_and_a_broken_template_are_errors() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let error = read_template_dir(dir.path())
            .expect_err("empty")
            .to_string();
        assert!(
            error.contains("holds no CloudFormation template"),
            "{error}"
        );
        write(
            dir.path(),
            "vpc.yml",
            "Resources:\n  Vpc: {Type: [unclosed\n",
        );
        let error = read_template_dir(dir.path())
            .expect_err("broken")
            .to_string();
        assert!(error.contains("vpc.yml is not valid YAML"), "{error}");
        let error = read_template_dir(&dir.path().join("nowhere"))
            .expect_err("no folder")
            .to_string();
        assert!(
            error.contains("cannot read") && error.contains("nowhere"),
            "{error}"
        );
    }
}
