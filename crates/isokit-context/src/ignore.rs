//! Reading ignore files the way the docker CLI does (moby/patternmatcher's
//! `ignorefile.ReadAll`), and choosing which ignore file applies.

use std::path::{Path, PathBuf};

use crate::ContextError;
use crate::listed::read_regular;
use crate::pattern::{PatternMatcher, clean_path};

/// One pattern of an ignore file, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The pattern as Docker normalises it: trimmed, cleaned, relative, `!` kept.
    pub pattern: String,
}

/// Parses ignore-file text: a UTF-8 byte-order mark is dropped, lines
/// starting with `#` (in the first column only) are comments, whitespace
/// around a pattern and after its `!` is trimmed, each pattern is cleaned and
/// a leading `/` removed.
pub fn parse_ignore_text(text: &str) -> Vec<IgnoreLine> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    // A final newline ends the last line; it does not start an empty one.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let mut patterns = Vec::new();
    for (index, raw) in lines.into_iter().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with('#') {
            continue;
        }
        let mut pattern = raw.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut normalised = String::new();
        if !pattern.is_empty() {
            let cleaned = clean_path(pattern);
            normalised = match cleaned.strip_prefix('/') {
                Some(relative) if !relative.is_empty() => relative.to_string(),
                _ => cleaned,
            };
        }
        if invert {
            normalised.insert(0, '!');
        }
        patterns.push(IgnoreLine {
            line: index + 1,
            pattern: normalised,
        });
    }
    patterns
}

/// The ignore file in effect for a build, parsed.
#[derive(Debug, Clone)]
pub(crate) struct IgnoreFile {
    pub(crate) path: PathBuf,
    /// Whether it is `<Dockerfile>.dockerignore` rather than the context's `.dockerignore`.
    pub(crate) dockerfile_specific: bool,
    pub(crate) text: String,
    pub(crate) lines: Vec<IgnoreLine>,
}

impl IgnoreFile {
    /// `<Dockerfile>.dockerignore` beside the Dockerfile when it exists (as
    /// BuildKit does), otherwise the context's `.dockerignore`, otherwise none.
    pub(crate) fn find(
        context_root: &Path,
        dockerfile: &Path,
    ) -> Result<Option<IgnoreFile>, ContextError> {
        let mut specific = dockerfile.as_os_str().to_owned();
        specific.push(".dockerignore");
        let specific = PathBuf::from(specific);
        let (path, dockerfile_specific) = if specific.is_file() {
            (specific, true)
        } else {
            let general = context_root.join(".dockerignore");
            if !general.exists() {
                return Ok(None);
            }
            (general, false)
        };
        let bytes = read_regular(&path).map_err(|source| ContextError::IgnoreFileUnreadable {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ContextError::IgnoreFileNotUtf8 { path: path.clone() })?;
        let lines = parse_ignore_text(&text);
        Ok(Some(IgnoreFile {
            path,
            dockerfile_specific,
            text,
            lines,
        }))
    }

    pub(crate) fn patterns(&self) -> Vec<String> {
        self.lines.iter().map(|line| line.pattern.clone()).collect()
    }

    /// The file's patterns as a matcher; a bad pattern is reported with its line.
    pub(crate) fn matcher(&self, extra: &[String]) -> Result<PatternMatcher, ContextError> {
        let mut patterns = self.patterns();
        patterns.extend_from_slice(extra);
        PatternMatcher::new(&patterns).map_err(|error| ContextError::InvalidPattern {
            path: self.path.clone(),
            line: self.lines.get(error.index).map(|line| line.line),
            pattern: error.pattern,
            reason: error.reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(text: &str) -> Vec<String> {
        parse_ignore_text(text)
            .into_iter()
            .map(|line| line.pattern)
            .collect()
    }

    #[test]
    fn lines_are_normalised_as_the_docker_cli_does() {
        let text = "\u{feff}test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! \n";
        assert_eq!(
            patterns(text),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
    }

    #[test]
    fn only_a_hash_in_the_first_column_starts_a_comment() {
        assert_eq!(patterns("#c\n  #not a comment\n"), ["#not a comment"]);
    }

    #[test]
    fn patterns_are_cleaned_and_keep_their_line_numbers() {
        let lines = parse_ignore_text("a//b/./c/\r\n\r\n  ./x/../y  \n/\n..\n/..\n");
        let got: Vec<(usize, &str)> = lines
            .iter()
            .map(|line| (line.line, line.pattern.as_str()))
            .collect();
        assert_eq!(got, [(1, "a/b/c"), (3, "y"), (4, "/"), (5, ".."), (6, "/")]);
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        assert_eq!(patterns("a\nb"), ["a", "b"]);
    }
}
