//! The folder `sam deploy --template-file` reads the four templates from.

use std::path::{Path, PathBuf};

use isokit_stacks::{StackSet, TemplateFile};
use tempfile::TempDir;

use crate::Error;

/// A user's `--stacks-dir`, used in place (its four templates were read and
/// checked through [`StackSet::from_dir`]), or the bundled templates
/// written to a temporary folder that is removed when this is dropped.
#[derive(Debug)]
pub(crate) enum TemplateFolder {
    User(PathBuf),
    Temporary(TempDir),
}

impl TemplateFolder {
    /// Writes `stacks` into a new temporary folder.
    pub(crate) fn temporary(stacks: &StackSet) -> Result<TemplateFolder, Error> {
        let temporary = tempfile::Builder::new()
            .prefix("isokit-stacks-")
            .tempdir()
            .map_err(|source| Error::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        stacks.export(temporary.path(), false)?;
        Ok(TemplateFolder::Temporary(temporary))
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            TemplateFolder::User(path) => path,
            TemplateFolder::Temporary(temporary) => temporary.path(),
        }
    }

    /// The template `sam deploy --template-file` takes.
    pub(crate) fn parent_template(&self) -> PathBuf {
        self.path().join(TemplateFile::Parent.file_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_folder_holds_the_templates_until_dropped() {
        let stacks = StackSet::bundled();
        let folder = TemplateFolder::temporary(&stacks).expect("temporary folder");
        let path = folder.path().to_owned();
        let reread = StackSet::from_dir(&path).expect("all four written");
        for file in TemplateFile::ALL {
            assert_eq!(reread.text(file), stacks.text(file), "{}", file.file_name());
        }
        assert!(folder.parent_template().is_file());
        drop(folder);
        assert!(!path.exists());
    }
}
