//! The README's troubleshooting table, rendered from the catalogue, and the
//! markers that delimit it in the README.

use crate::catalogue::{CATALOGUE, Entry};
use crate::diagnosis::fill;
use crate::task::StoppedTask;

pub const TABLE_BEGIN: &str = "<!-- troubleshooting-table:begin -->";
pub const TABLE_END: &str = "<!-- troubleshooting-table:end -->";

/// A document lacks the markers around the troubleshooting table.
#[derive(Debug, thiserror::Error)]
#[error(
    "no troubleshooting table markers: put `{TABLE_BEGIN}` and `{TABLE_END}`, each on its own \
     line and in that order, where the table belongs"
)]
pub struct MarkersMissing;

/// The troubleshooting table in Markdown, one row per catalogue entry, with
/// `<region>` where a region goes. Ends with a newline.
pub fn troubleshooting_table() -> String {
    let mut table = String::from(
        "| Cause | ECS says (where; source) | Missing | Fix | Deploy fails at once |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for entry in &CATALOGUE {
        let row = [
            cell(entry.cause.title()),
            format!(
                "{} ({}; [source]({}))",
                code(entry.example),
                entry.appears_in.describe(),
                entry.source
            ),
            cell(&generic(entry, entry.missing)),
            cell(&generic(entry, entry.fix)),
            if entry.cause.is_start_failure() {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ];
        table.push_str("| ");
        table.push_str(&row.join(" | "));
        table.push_str(" |\n");
    }
    table
}

/// A catalogue text filled for no task in particular (`<region>`, the
/// entry's own endpoint), by the code that fills it for a diagnosis: the
/// README shows what isokit prints.
fn generic(entry: &Entry, template: &str) -> String {
    fill(template, &StoppedTask::default(), entry.endpoint)
}

/// Table cells cannot hold a pipe or a line break.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// A code span that survives the backticks, pipes and line breaks of the
/// text it quotes.
fn code(text: &str) -> String {
    let text = cell(text);
    let fence = if text.contains('`') { "``" } else { "`" };
    format!("{fence}{text}{fence}")
}

/// The text between the markers of `document`, without the line breaks
/// that frame it.
pub fn troubleshooting_table_in(document: &str) -> Result<&str, MarkersMissing> {
    let (start, end) = marker_span(document)?;
    Ok(document[start..end].trim_matches('\n'))
}

/// `document` with the current table between its markers.
pub fn splice_troubleshooting_table(document: &str) -> Result<String, MarkersMissing> {
    let (start, end) = marker_span(document)?;
    Ok(format!(
        "{}\n{}{}",
        &document[..start],
        troubleshooting_table(),
        &document[end..]
    ))
}

/// The byte range between the end of the begin marker and the start of the
/// end marker.
fn marker_span(document: &str) -> Result<(usize, usize), MarkersMissing> {
    let start = document.find(TABLE_BEGIN).ok_or(MarkersMissing)? + TABLE_BEGIN.len();
    let end = start + document[start..].find(TABLE_END).ok_or(MarkersMissing)?;
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = include_str!("../../../README.md");

    #[test]
    fn the_readme_table_is_the_catalogue() {
        let expected = troubleshooting_table();
        let in_readme = troubleshooting_table_in(README).expect("README.md has the table markers");
        assert!(
            in_readme == expected.trim_end_matches('\n'),
            "README.md's troubleshooting table is not the catalogue's. Regenerate it with\n\n    \
             cargo run -q -p isokit-diagnose --example troubleshooting-table -- README.md\n\n\
             from the workspace root. The table should read:\n\n{expected}"
        );
    }

    #[test]
    fn the_table_has_a_row_per_entry_and_no_placeholder_left() {
        let table = troubleshooting_table();
        assert_eq!(table.lines().count(), CATALOGUE.len() + 2);
        for placeholder in ["{service}", "{region}", "{platform}", "{cpu}"] {
            assert!(
                !table.contains(placeholder),
                "{placeholder} left in:\n{table}"
            );
        }
        for line in table.lines() {
            // Five cells: a pipe inside a cell would add one.
            assert_eq!(line.matches(" | ").count(), 4, "{line}");
        }
    }

    #[test]
    fn cells_escape_what_a_table_cannot_hold() {
        assert_eq!(cell("a | b\n\tc"), r"a \| b c");
        assert_eq!(code("uses `x`"), "``uses `x```");
    }

    #[test]
    fn splicing_replaces_only_what_is_between_the_markers() {
        let document = format!("intro\n{TABLE_BEGIN}\nold table\n{TABLE_END}\noutro\n");
        let spliced = splice_troubleshooting_table(&document).expect("markers are there");
        assert!(spliced.starts_with(&format!("intro\n{TABLE_BEGIN}\n| Cause |")));
        assert!(spliced.ends_with(&format!(" |\n{TABLE_END}\noutro\n")));
        assert_eq!(
            troubleshooting_table_in(&spliced).expect("markers are there"),
            troubleshooting_table().trim_end_matches('\n')
        );
        assert!(troubleshooting_table_in("no markers").is_err());
        assert!(splice_troubleshooting_table(&format!("{TABLE_END}\n{TABLE_BEGIN}")).is_err());
    }
}
