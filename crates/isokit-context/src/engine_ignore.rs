//! The `.dockerignore` the engine reads: when it must differ from the
//! context's own, and what it then says.

use std::path::Path;

use crate::ignore::{IgnoreFile, parse_ignore_text};
use crate::listed::read_regular;
use crate::pattern::PatternMatcher;

/// The `.dockerignore` the engine must read when it differs from the one
/// in the context, or `None` when the context's own file serves.
///
/// The engine's classic builder reads `.dockerignore` from the archive to
/// decide whether to drop the Dockerfile and `.dockerignore` after reading
/// them. When the Dockerfile comes from outside the context, the docker CLI
/// appends its generated name to that file so the engine drops it; isokit
/// does the same, also for a Dockerfile it copies because the build request
/// cannot name its path. When a Dockerfile-specific ignore file applies, the engine
/// must decide as its patterns do; the context's own `.dockerignore` is sent
/// as it is when its patterns lead the engine to the same two decisions, and
/// otherwise replaced by the Dockerfile's patterns (plus `.dockerignore`
/// itself when that file is not part of the context).
pub(crate) fn engine_ignore_content(
    root: &Path,
    ignore: Option<&IgnoreFile>,
    matcher: &PatternMatcher,
    dockerfile_in_archive: &str,
    outside_dockerfile: Option<&str>,
) -> Option<String> {
    let dockerfile_specific = ignore.is_some_and(|ignore| ignore.dockerfile_specific);
    if !dockerfile_specific && outside_dockerfile.is_none() {
        return None;
    }
    if dockerfile_specific
        && outside_dockerfile.is_none()
        && !matcher.matches_or_parent_matches(".dockerignore")
        && context_ignore_decides_alike(root, matcher, dockerfile_in_archive)
    {
        return None;
    }
    let mut lines = Vec::new();
    if dockerfile_specific {
        let real_absent = !root.join(".dockerignore").exists();
        if real_absent || matcher.matches_or_parent_matches(".dockerignore") {
            lines.push(".dockerignore");
        }
    }
    lines.extend(outside_dockerfile);
    let base = match ignore {
        Some(ignore) => ignore.text.as_str(),
        None => ".dockerignore",
    };
    let mut content = base.to_string();
    for line in &lines {
        content.push('\n');
        content.push_str(line);
    }
    if !lines.is_empty() {
        content.push('\n');
    }
    Some(content)
}

/// Whether the engine, reading the context's own `.dockerignore`, would keep
/// that file and keep or drop the Dockerfile just as `matcher` (the
/// Dockerfile-specific patterns, which keep `.dockerignore`) decides.
fn context_ignore_decides_alike(root: &Path, matcher: &PatternMatcher, dockerfile: &str) -> bool {
    let Some(text) = read_regular(&root.join(".dockerignore"))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return false;
    };
    let patterns: Vec<String> = parse_ignore_text(&text)
        .into_iter()
        .map(|line| line.pattern)
        .collect();
    let Ok(context_matcher) = PatternMatcher::new(&patterns) else {
        return false;
    };
    !context_matcher.matches_or_parent_matches(".dockerignore")
        && context_matcher.matches_or_parent_matches(dockerfile)
            == matcher.matches_or_parent_matches(dockerfile)
}

/// Escapes a literal path for use as a pattern.
pub(crate) fn escape_glob(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for ch in path.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}
