//! Docker's ignore-pattern language, rule for rule as moby/patternmatcher
//! implements it: each pattern is cleaned like Go's `filepath.Clean`,
//! validated like Go's `filepath.Match`, then matched exactly, by prefix, by
//! suffix, or through the regular expression Docker derives from it.
//!
//! Docker hands that derived expression to Go's `regexp` package, whose
//! syntax differs from the `regex` crate's in places (character classes may
//! contain a bare `[`, `\d` is ASCII-only, `\Q…\E` exists). The derived
//! expression is therefore re-read with Go's rules and written out again in
//! the `regex` crate's syntax, so that odd patterns match what they match in
//! Docker, quirks included.

use regex::Regex;

/// A pattern Docker would reject. Users see it as
/// [`ContextError::InvalidPattern`](crate::ContextError::InvalidPattern),
/// which adds the file and line the pattern came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern {
    /// Position of the offending pattern in the list given to [`PatternMatcher::new`].
    pub(crate) index: usize,
    /// The pattern as given.
    pub(crate) pattern: String,
    /// What is wrong with it.
    pub(crate) reason: String,
}

/// Go's `filepath.Clean` for slash-separated paths: the shortest path
/// naming the same file, by purely lexical processing.
pub(crate) fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `/..` is `/`; a relative path keeps its leading `..`.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// How a pattern is tested against a path, chosen as Docker chooses it.
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// A pattern ending in `**`: everything starting with what precedes it.
    Prefix(String),
    /// A pattern starting with `**` and otherwise free of wildcards.
    Suffix(String),
    Regex(Regex),
}

/// One cleaned ignore pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    text: String,
    exclusion: bool,
    component_count: usize,
    matcher: Matcher,
}

impl Pattern {
    /// The cleaned pattern, without its `!`.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is an exception (`!pattern`) that re-includes paths.
    pub(crate) fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|bare| path == bare)
            }
            Matcher::Regex(regex) => regex.is_match(path),
        }
    }
}

/// Which patterns matched a directory, so that its children inherit the
/// matches (moby/patternmatcher's `MatchInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of patterns where the last match wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct PatternMatcher {
    patterns: Vec<Pattern>,
    has_exclusions: bool,
}

impl PatternMatcher {
    /// Parses patterns as moby/patternmatcher's `New` does: trimmed, cleaned,
    /// `!` marking an exception, blank ones dropped. Unlike Docker, which
    /// compiles each expression lazily and may never notice a broken one,
    /// every pattern is checked up front.
    pub(crate) fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternMatcher, BadPattern> {
        let mut matcher = PatternMatcher::default();
        for (index, raw) in patterns.iter().enumerate() {
            let raw = raw.as_ref();
            let error = |reason: String| BadPattern {
                index,
                pattern: raw.to_string(),
                reason,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean_path(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(error("illegal exclusion pattern: \"!\"".to_string())),
                Some(rest) => (true, rest.to_string()),
                None => (false, cleaned),
            };
            validate_glob(&text).map_err(error)?;
            let matcher_kind = compile(&text).map_err(error)?;
            matcher.has_exclusions |= exclusion;
            matcher.patterns.push(Pattern {
                component_count: text.split('/').count(),
                text,
                exclusion,
                matcher: matcher_kind,
            });
        }
        Ok(matcher)
    }

    pub(crate) fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exception (`!pattern`).
    pub(crate) fn has_exclusions(&self) -> bool {
        self.has_exclusions
    }

    /// Whether `path` is excluded, a pattern matching any of its parent
    /// directories counting as matching the path (`MatchesOrParentMatches`).
    pub(crate) fn matches_or_parent_matches(&self, path: &str) -> bool {
        let parents = parent_dirs(path);
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let hit =
                pattern.matches(path) || prefixes(&parents).any(|parent| pattern.matches(&parent));
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Docker's deprecated `Matches`, which tests only the parent directory
    /// with as many components as the pattern has. The docker CLI still uses
    /// it to decide whether the Dockerfile and `.dockerignore` need
    /// re-including, so it is kept for that one purpose.
    pub(crate) fn matches_with_single_parent(&self, path: &str) -> bool {
        let path = clean_path(path);
        if path == "." {
            return false;
        }
        let parents = parent_dirs(&path);
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&path);
            if !hit && !parents.is_empty() && pattern.component_count <= parents.len() {
                hit = pattern.matches(&parents[..pattern.component_count].join("/"));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether `path` is excluded, given what matched its parent directory
    /// (`MatchesUsingParentResults`); `None` for a path whose parents were
    /// not visited, in which case they are tested here. The returned
    /// [`MatchInfo`] is what the path's own children inherit.
    pub(crate) fn matches_using_parent_results(
        &self,
        path: &str,
        parent: Option<&MatchInfo>,
    ) -> (bool, MatchInfo) {
        let inherited = parent
            .map(|info| info.parent_matched.as_slice())
            .filter(|flags| !flags.is_empty());
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for (index, pattern) in self.patterns.iter().enumerate() {
            let mut hit = inherited.is_some_and(|flags| flags.get(index).copied().unwrap_or(false));
            if !hit {
                // As in Docker, a pattern that cannot change the outcome is
                // not evaluated, and so is not recorded as matching either.
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(path);
                if !hit && inherited.is_none() {
                    let parents = parent_dirs(path);
                    hit = prefixes(&parents).any(|parent| pattern.matches(&parent));
                }
            }
            info.parent_matched[index] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }
}

/// The directory components above `path` (`a/b/c` gives `[a, b]`).
fn parent_dirs(path: &str) -> Vec<&str> {
    match path.rsplit_once('/') {
        Some((parent, _)) => parent.split('/').collect(),
        None => Vec::new(),
    }
}

/// `a`, `a/b`, `a/b/c`… for the components given.
fn prefixes<'a>(parts: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    (1..=parts.len()).map(move |end| parts[..end].join("/"))
}

/// The syntax check of Go's `filepath.Match`, which Docker runs on every
/// pattern: escapes must escape something, and character classes must be
/// closed, non-empty, and made of well-formed ranges.
fn validate_glob(pattern: &str) -> Result<(), String> {
    let bytes = pattern.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => {
                if at + 1 >= bytes.len() {
                    return Err(
                        "syntax error in pattern: a trailing `\\` escapes nothing".to_string()
                    );
                }
                at += 2;
            }
            b'[' => at = validate_class(pattern, at + 1)?,
            _ => at += 1,
        }
    }
    Ok(())
}

/// Checks the class whose body starts at `at`; returns the index after its `]`.
fn validate_class(pattern: &str, mut at: usize) -> Result<usize, String> {
    let bytes = pattern.as_bytes();
    if bytes.get(at) == Some(&b'^') {
        at += 1;
    }
    let mut ranges = 0;
    loop {
        if bytes.get(at) == Some(&b']') && ranges > 0 {
            return Ok(at + 1);
        }
        at = class_member(pattern, at)?;
        if bytes.get(at) == Some(&b'-') {
            at = class_member(pattern, at + 1)?;
        }
        ranges += 1;
    }
}

/// One character of a `filepath.Match` class (Go's `getEsc`).
fn class_member(pattern: &str, mut at: usize) -> Result<usize, String> {
    let unterminated = || "syntax error in pattern: unterminated character class `[`".to_string();
    let bytes = pattern.as_bytes();
    match bytes.get(at) {
        None => return Err(unterminated()),
        Some(b'-') | Some(b']') => {
            return Err(
                "syntax error in pattern: a character class range cannot start with `-` or `]`"
                    .to_string(),
            );
        }
        Some(b'\\') => {
            at += 1;
            if at >= bytes.len() {
                return Err(unterminated());
            }
        }
        Some(_) => {}
    }
    let width = pattern[at..].chars().next().map_or(1, char::len_utf8);
    at += width;
    if at >= bytes.len() {
        return Err(unterminated());
    }
    Ok(at)
}

/// Picks the matcher Docker picks, building its regular expression when
/// one is needed (moby/patternmatcher's `compile`).
fn compile(pattern: &str) -> Result<Matcher, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut source = String::from("^");
    let mut kind = Kind::Exact;
    let mut at = 0;
    let mut step = 0;
    while at < chars.len() {
        let ch = chars[at];
        at += 1;
        match ch {
            '*' if chars.get(at) == Some(&'*') => {
                at += 1;
                if chars.get(at) == Some(&'/') {
                    at += 1;
                }
                if at == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        source.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    source.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if step == 0 {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                source.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                source.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                source.push('\\');
                source.push(ch);
            }
            '\\' => match chars.get(at) {
                Some(&next) => {
                    source.push('\\');
                    source.push(next);
                    at += 1;
                    kind = Kind::Regex;
                }
                None => source.push('\\'),
            },
            '[' | ']' => {
                source.push(ch);
                kind = Kind::Regex;
            }
            _ => source.push(ch),
        }
        step += 1;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Regex => {
            source.push('$');
            let translated = go_regex::to_rust(&source)?;
            Matcher::Regex(
                Regex::new(&translated)
                    .map_err(|error| format!("syntax error in pattern: {error}"))?,
            )
        }
    })
}

/// Reads an expression with Go's `regexp/syntax` rules (the subset Docker's
/// derived expressions can contain) and writes it in the `regex` crate's
/// syntax.
mod go_regex {
    use std::iter::Peekable;
    use std::str::Chars;

    const PERL_DIGIT: &str = "0-9";
    const PERL_SPACE: &str = r"\t\n\x0C\r ";
    const PERL_WORD: &str = "0-9A-Za-z_";
    const POSIX_CLASSES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];

    #[derive(PartialEq, Clone, Copy)]
    enum Last {
        Nothing,
        Atom,
        Repeat { lazy: bool },
    }

    pub(super) fn to_rust(source: &str) -> Result<String, String> {
        let bad = |what: &str| format!("syntax error in pattern: {what}");
        let mut input = source.chars().peekable();
        let mut out = String::new();
        let mut depth = 0usize;
        let mut last = Last::Nothing;
        while let Some(ch) = input.next() {
            match ch {
                '(' => {
                    out.push_str("(?:");
                    depth += 1;
                    last = Last::Nothing;
                    continue;
                }
                ')' => {
                    depth = depth.checked_sub(1).ok_or_else(|| bad("unexpected `)`"))?;
                    out.push(')');
                }
                '|' => {
                    out.push('|');
                    last = Last::Nothing;
                    continue;
                }
                '*' | '+' | '?' => {
                    last = match last {
                        Last::Nothing => {
                            return Err(bad("missing argument to repetition operator"));
                        }
                        Last::Repeat { lazy: false } if ch == '?' => {
                            out.push('?');
                            Last::Repeat { lazy: true }
                        }
                        Last::Repeat { .. } => {
                            return Err(bad("invalid nested repetition operator"));
                        }
                        Last::Atom => {
                            out.push(ch);
                            Last::Repeat { lazy: false }
                        }
                    };
                    continue;
                }
                // Anchors are grouped so that a repetition after them, legal
                // in Go, stays legal.
                '^' => out.push_str("(?:^)"),
                '$' => out.push_str("(?:$)"),
                '.' => out.push('.'),
                '[' => out.push_str(&class(&mut input)?),
                '\\' => match input.next() {
                    Some('Q') => {
                        let mut quoted = String::new();
                        while let Some(next) = input.next() {
                            if next == '\\' && input.peek() == Some(&'E') {
                                input.next();
                                break;
                            }
                            quoted.push(next);
                        }
                        out.push_str(&regex::escape(&quoted));
                    }
                    Some('A') => out.push_str(r"\A"),
                    Some('z') => out.push_str(r"\z"),
                    Some('b') => out.push_str(r"(?-u:\b)"),
                    Some('B') => out.push_str(r"(?-u:\B)"),
                    Some(kind @ ('p' | 'P')) => out.push_str(&unicode_class(kind, &mut input)?),
                    Some(kind @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                        let (set, negated) = perl_class(kind);
                        out.push_str(&format!("[{}{set}]", if negated { "^" } else { "" }));
                    }
                    Some(escaped) => out.push_str(&literal(escape(escaped, &mut input)?)),
                    None => return Err(bad("trailing backslash at end of expression")),
                },
                _ => out.push_str(&literal(ch)),
            }
            last = Last::Atom;
        }
        if depth > 0 {
            return Err(bad("missing closing `)`"));
        }
        Ok(out)
    }

    fn literal(ch: char) -> String {
        regex::escape(ch.encode_utf8(&mut [0; 4]))
    }

    fn perl_class(kind: char) -> (&'static str, bool) {
        match kind.to_ascii_lowercase() {
            'd' => (PERL_DIGIT, kind.is_ascii_uppercase()),
            's' => (PERL_SPACE, kind.is_ascii_uppercase()),
            _ => (PERL_WORD, kind.is_ascii_uppercase()),
        }
    }

    fn unicode_class(kind: char, input: &mut Peekable<Chars<'_>>) -> Result<String, String> {
        let name = match input.next() {
            Some('{') => {
                let mut name = String::new();
                loop {
                    match input.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => {
                            return Err("syntax error in pattern: unterminated `\\p{`".to_string());
                        }
                    }
                }
                name
            }
            Some(letter) if letter.is_ascii_alphabetic() => letter.to_string(),
            _ => {
                return Err(format!(
                    "syntax error in pattern: invalid character class range `\\{kind}`"
                ));
            }
        };
        Ok(format!(r"\{kind}{{{name}}}"))
    }

    /// A single-character escape (Go's `parseEscape`), `escaped` being the
    /// character after the backslash.
    fn escape(escaped: char, input: &mut Peekable<Chars<'_>>) -> Result<char, String> {
        let octal_digit = |ch: Option<&char>| ch.and_then(|ch| ch.to_digit(8));
        let invalid = || format!("syntax error in pattern: invalid escape sequence `\\{escaped}`");
        match escaped {
            ch if ch.is_ascii() && !ch.is_ascii_alphanumeric() => Ok(ch),
            '1'..='7' if octal_digit(input.peek()).is_none() => Err(invalid()),
            '0'..='7' => {
                let mut value = escaped.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let Some(digit) = octal_digit(input.peek()) else {
                        break;
                    };
                    input.next();
                    value = value * 8 + digit;
                }
                char::from_u32(value).ok_or_else(invalid)
            }
            'x' => {
                let hex = if input.peek() == Some(&'{') {
                    input.next();
                    let mut digits = String::new();
                    loop {
                        match input.next() {
                            Some('}') => break,
                            Some(ch) => digits.push(ch),
                            None => return Err(invalid()),
                        }
                    }
                    digits
                } else {
                    let pair: String = input.by_ref().take(2).collect();
                    if pair.chars().count() != 2 {
                        return Err(invalid());
                    }
                    pair
                };
                let valid = !hex.is_empty() && hex.chars().all(|ch| ch.is_ascii_hexdigit());
                let value = if valid {
                    u32::from_str_radix(&hex, 16).ok()
                } else {
                    None
                };
                value.and_then(char::from_u32).ok_or_else(invalid)
            }
            'a' => Ok('\x07'),
            'f' => Ok('\x0C'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'v' => Ok('\x0B'),
            _ => Err(invalid()),
        }
    }

    /// A character class, `[` already read (Go's `parseClass`).
    fn class(input: &mut Peekable<Chars<'_>>) -> Result<String, String> {
        let missing = || "syntax error in pattern: missing closing `]`".to_string();
        let mut out = String::from("[");
        if input.peek() == Some(&'^') {
            input.next();
            out.push('^');
        }
        let mut first = true;
        loop {
            let ch = *input.peek().ok_or_else(missing)?;
            if ch == ']' && !first {
                input.next();
                break;
            }
            first = false;
            if ch == '[' {
                let rest: String = input.clone().collect();
                if let Some(name) = rest
                    .strip_prefix("[:")
                    .and_then(|tail| tail.find(":]").map(|end| &tail[..end]))
                {
                    let known = POSIX_CLASSES.contains(&name.strip_prefix('^').unwrap_or(name));
                    if !known {
                        return Err(format!(
                            "syntax error in pattern: invalid character class range `[:{name}:]`"
                        ));
                    }
                    out.push_str(&format!("[:{name}:]"));
                    for _ in 0..name.chars().count() + 4 {
                        input.next();
                    }
                    continue;
                }
            }
            if ch == '\\' {
                let mut lookahead = input.clone();
                lookahead.next();
                match lookahead.peek().copied() {
                    Some(kind @ ('p' | 'P')) => {
                        input.next();
                        input.next();
                        out.push_str(&unicode_class(kind, input)?);
                        continue;
                    }
                    Some(kind @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                        input.next();
                        input.next();
                        match perl_class(kind) {
                            (set, false) => out.push_str(set),
                            (set, true) => out.push_str(&format!("[^{set}]")),
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            let low = class_char(input)?;
            let mut lookahead = input.clone();
            if lookahead.next() == Some('-') && lookahead.peek().is_some_and(|&next| next != ']') {
                input.next();
                let high = class_char(input)?;
                if high < low {
                    return Err(format!(
                        "syntax error in pattern: invalid character class range `{low}-{high}`"
                    ));
                }
                out.push_str(&format!("{}-{}", literal(low), literal(high)));
            } else {
                out.push_str(&literal(low));
            }
        }
        out.push(']');
        Ok(out)
    }

    fn class_char(input: &mut Peekable<Chars<'_>>) -> Result<char, String> {
        match input.next() {
            None => Err("syntax error in pattern: missing closing `]`".to_string()),
            Some('\\') => {
                let escaped = input
                    .next()
                    .ok_or_else(|| "syntax error in pattern: missing closing `]`".to_string())?;
                escape(escaped, input)
            }
            Some(ch) => Ok(ch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> PatternMatcher {
        PatternMatcher::new(patterns)
            .unwrap_or_else(|error| panic!("{patterns:?} should parse: {error:?}"))
    }

    /// Walks down to `path` the way a directory walk does, handing each
    /// directory's match results to its children.
    fn excluded_during_walk(matcher: &PatternMatcher, path: &str) -> bool {
        let mut info: Option<MatchInfo> = None;
        let mut excluded = false;
        let parts: Vec<&str> = path.split('/').collect();
        for end in 1..=parts.len() {
            let (hit, next) =
                matcher.matches_using_parent_results(&parts[..end].join("/"), info.as_ref());
            excluded = hit;
            info = Some(next);
        }
        excluded
    }

    #[test]
    fn go_clean_rules() {
        let cases = [
            ("", "."),
            (".", "."),
            ("a/", "a"),
            ("a//b", "a/b"),
            ("./a/./b/.", "a/b"),
            ("a/../b", "b"),
            ("a/b/../../..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("//", "/"),
            ("!a/../b", "b"),
            ("**/", "**"),
        ];
        for (path, want) in cases {
            assert_eq!(clean_path(path), want, "clean({path:?})");
        }
    }

    /// One pattern against one path, with parents counting (what decides
    /// whether a file goes into the context).
    #[test]
    fn single_pattern_table() {
        let cases: &[(&str, &str, bool)] = &[
            // Plain names match only from the context root.
            ("foo", "foo", true),
            ("foo", "a/foo", false),
            ("foo", "foo/bar", true),
            ("foo/", "foo/bar", true),
            // `*` and `?` never cross a `/`.
            ("*", "file", true),
            ("*", "dir/file", true),
            ("*.go", "main.go", true),
            ("*.go", "cmd/main.go", false),
            ("*/temp*", "somedir/temporary.txt", true),
            ("*/temp*", "somedir/temp", true),
            ("*/*/temp*", "somedir/subdir/temporary.txt", true),
            ("temp?", "tempa", true),
            ("temp?", "temp/", false),
            ("a?b", "a/b", false),
            ("a?b", "a☺b", true),
            ("a*b", "a/b", false),
            ("abc?def", "abcdef", false),
            // `**` crosses any number of directories, even none.
            ("**", "anything/at/all", true),
            ("**/*.go", "main.go", true),
            ("**/*.go", "a/b/c.go", true),
            ("**/dir", "dir", true),
            ("**/dir", "x/y/dir", true),
            ("**/dir", "x/dir/file", true),
            ("dir/**", "dir", false),
            ("dir/**", "dir/a/b", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            // Docker quirks kept on purpose: `**` in mid-name becomes an
            // optional directory run, and a leading `**` without wildcards
            // after it is a plain suffix test.
            ("a**b", "ab", true),
            ("a**b", "ax/b", true),
            ("a**b", "axb", false),
            ("**foo", "barfoo", true),
            ("**file", "dir/file", true),
            // Classes: ranges, negation with `^` only, escapes.
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            ("a[^b-d]e", "ace", false),
            ("[!a]", "!", true),
            ("[!a]", "a", true),
            ("[!a]", "b", false),
            ("[\\]a]", "]", true),
            ("[\\-x]", "-", true),
            ("[x\\-]", "z", false),
            ("[a-ζ]*", "α", true),
            // Regular-expression characters are literal.
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            // Escapes: a backslash escapes the next character; a Go regular
            // expression then reads it, so `\d` means a digit.
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("a\\\\", "a\\", true),
            ("a\\?", "a?", true),
            ("file\\d", "file7", true),
            ("file\\d", "filed", false),
            // A class containing `*` reads differently once Docker turns the
            // `*` into `[^/]*`: it matches `]`, not `*`.
            ("[*]", "*", false),
            ("[*]", "]", true),
            // `^` mid-pattern is an anchor in the derived expression…
            ("a^b*", "a^bc", false),
            // …but a pattern without wildcards is compared as text.
            ("a^b", "a^b", true),
            // Patterns outside the context match nothing in it.
            ("../foo", "foo", false),
            (".", "foo", false),
        ];
        for &(pattern, path, want) in cases {
            let matcher = matcher(&[pattern]);
            assert_eq!(
                matcher.matches_or_parent_matches(path),
                want,
                "pattern {pattern:?} against {path:?}"
            );
            assert_eq!(
                excluded_during_walk(&matcher, path),
                want,
                "walk with {pattern:?} down to {path:?}"
            );
        }
    }

    /// Several patterns: the last match wins, `!` re-includes.
    #[test]
    fn pattern_list_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*.md", "!README.md"], "README.md", false),
            (&["*.md", "!README.md"], "CHANGES.md", true),
            (&["*.md", "!README.md", "README*"], "README.md", true),
            (&["!README.md", "*.md"], "README.md", true),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs", "!docs/README.md"], "docs/other.md", true),
            (&["docs/", "!docs/README.md"], "docs/README.md", false),
            (&["docs/*", "!docs/README.md"], "docs/README.md", false),
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (&["**", "!dist/*.whl"], "dist/x-1.0-py3-none-any.whl", false),
            (&["target", "!target/keep"], "target/keep/inner/file", false),
            (&["target", "!target/keep"], "target/debug/build", true),
            (&["*", "!src", "src/generated"], "src/generated/x.rs", true),
            (&["*", "!src", "src/generated"], "src/lib.rs", false),
            (&["dir", "!*/sub/keep.txt"], "dir/sub/keep.txt", false),
            (&["dir", "!*/sub/keep.txt"], "dir/sub/other.txt", true),
        ];
        for &(patterns, path, want) in cases {
            let matcher = matcher(patterns);
            assert_eq!(
                matcher.matches_or_parent_matches(path),
                want,
                "{patterns:?} against {path:?}"
            );
            assert_eq!(
                excluded_during_walk(&matcher, path),
                want,
                "walk with {patterns:?} down to {path:?}"
            );
        }
    }

    /// Docker's deprecated matcher only tests one parent; the CLI uses it to
    /// decide whether to re-include the Dockerfile.
    #[test]
    fn single_parent_matching_only_tests_the_parent_of_equal_depth() {
        assert!(matcher(&["build"]).matches_with_single_parent("build/Dockerfile"));
        assert!(matcher(&["*/docker"]).matches_with_single_parent("ci/docker/Dockerfile"));
        assert!(!matcher(&["**/docker"]).matches_with_single_parent("a/b/docker/Dockerfile"));
        assert!(matcher(&["**/docker"]).matches_or_parent_matches("a/b/docker/Dockerfile"));
        assert!(!matcher(&["*"]).matches_with_single_parent("."));
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("[", "unterminated"),
            ("[^", "unterminated"),
            ("[^bc", "unterminated"),
            ("a[", "unterminated"),
            ("[]a]", "cannot start"),
            ("[-]", "cannot start"),
            ("[x-]", "cannot start"),
            ("[-x]", "cannot start"),
            ("[a-b-c]", "cannot start"),
            ("a\\", "escapes nothing"),
            ("!", "illegal exclusion"),
            ("[z-a]", "invalid character class range"),
            ("\\q", "invalid escape sequence"),
            ("\\é", "invalid escape sequence"),
            ("x[[:nope:]]", "invalid character class range"),
        ];
        for &(pattern, reason) in cases {
            match PatternMatcher::new(&["ok", pattern]) {
                Ok(_) => panic!("{pattern:?} should be refused"),
                Err(error) => {
                    assert_eq!(error.index, 1, "{pattern:?}");
                    assert_eq!(error.pattern, pattern);
                    assert!(
                        error.reason.contains(reason),
                        "{pattern:?}: {}",
                        error.reason
                    );
                }
            }
        }
    }

    #[test]
    fn blank_patterns_are_skipped_and_exceptions_noticed() {
        let matcher = matcher(&["docs", "", "   ", "  !docs/README.md  "]);
        assert_eq!(matcher.patterns().len(), 2);
        assert!(matcher.has_exclusions());
        assert!(matcher.patterns()[1].is_exclusion());
        assert_eq!(matcher.patterns()[1].text(), "docs/README.md");
    }

    #[test]
    fn go_expression_syntax_is_translated() {
        let cases: &[(&str, &str, bool)] = &[
            ("^[[:alpha:]]$", "q", true),
            ("^[[:alpha:]]$", "1", false),
            ("^[\\d]$", "٣", false),
            ("^\\d$", "5", true),
            ("^a\\Q.*\\E$", "a.*", true),
            ("^a\\Q.*\\E$", "abc", false),
            ("^\\x41$", "A", true),
            ("^\\101$", "A", true),
            ("^[a[]$", "[", true),
            ("^[]a]$", "]", true),
            ("^[a&&b]$", "&", true),
            ("^[a-]$", "-", true),
            ("^\\pL$", "é", true),
        ];
        for &(source, text, want) in cases {
            let translated =
                go_regex::to_rust(source).unwrap_or_else(|error| panic!("{source:?}: {error}"));
            let regex = Regex::new(&translated)
                .unwrap_or_else(|error| panic!("{source:?} → {translated:?}: {error}"));
            assert_eq!(
                regex.is_match(text),
                want,
                "{source:?} → {translated:?} against {text:?}"
            );
        }
        for bad in ["^a**$", "^a|*$", "^a)$", "^(a$", "^\\x4$", "^[a$"] {
            assert!(go_regex::to_rust(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
