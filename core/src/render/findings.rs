//! Views of a [`Diagnosis`] (`doctor`, `lint`): a block per finding for a
//! person, GitHub Actions annotations for a pull request.

use crate::diagnose::{Diagnosis, Finding, Severity};

use super::{Styles, sanitize};

fn paint(text: &str, severity: Severity, styles: Styles) -> String {
    if !styles.color {
        return text.to_string();
    }
    let code = match severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "1;36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One block per finding, most severe first, then what was not checked and
/// a count. Cluster and repository text is escaped line by line.
pub fn text(d: &Diagnosis, styles: Styles) -> String {
    let mut out = String::new();
    for f in &d.findings {
        finding(&mut out, f, styles);
        out.push('\n');
    }
    if !d.not_checked.is_empty() {
        out.push_str("Not checked:\n");
        for n in &d.not_checked {
            out.push_str(&format!("  {}: {}\n", sanitize(&n.what), sanitize(&n.why)));
        }
        out.push('\n');
    }
    let s = d.summary;
    let verdict = if d.findings.is_empty() {
        "no pitfalls found".to_string()
    } else {
        format!(
            "{}, {}, {}",
            plural(s.errors, "error", "errors"),
            plural(s.warnings, "warning", "warnings"),
            plural(s.infos, "info", "infos")
        )
    };
    out.push_str(&format!(
        "{} checked: {verdict}\n",
        plural(d.stages.len(), "stage", "stages")
    ));
    out
}

fn finding(out: &mut String, f: &Finding, styles: Styles) {
    let head = format!("{}[{}]", f.severity.as_str(), f.code);
    out.push_str(&format!(
        "{} {}: {}\n",
        paint(&head, f.severity, styles),
        f.check,
        sanitize(&f.message)
    ));
    if let Some(l) = &f.location {
        out.push_str(&format!("  --> {}:{}\n", sanitize(&l.file), l.line));
    }
    if let Some(stage) = &f.stage {
        out.push_str(&format!("  stage: {}\n", sanitize(stage)));
    }
    out.push_str(&format!("  why:   {} ({})\n", f.why, f.reference));
    out.push_str(&format!("  fix:   {}\n", sanitize(&f.fix)));
    if let Some(snippet) = &f.snippet {
        for line in snippet.lines() {
            out.push_str(&format!("         | {}\n", sanitize(line)));
        }
    }
}

/// GitHub Actions workflow commands: one `::error file=…,line=…::` line per
/// finding (findings without a file are annotated on the run).
pub fn github(d: &Diagnosis) -> String {
    let mut out = String::new();
    for f in &d.findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = vec![];
        if let Some(l) = &f.location {
            props.push(format!("file={}", property(&l.file)));
            props.push(format!("line={}", l.line));
        }
        props.push(format!(
            "title={}",
            property(&format!("{} {}", f.code, f.check))
        ));
        out.push_str(&format!(
            "::{level} {}::{}\n",
            props.join(","),
            message(&format!("{}. Fix: {}", f.message, f.fix))
        ));
    }
    out
}

/// The README's table of every check, from the catalog (a test holds the
/// README to it).
pub fn catalog_table() -> String {
    let mut rows =
        String::from("| code | check | severity | why it matters |\n|---|---|---|---|\n");
    for c in crate::diagnose::CATALOG {
        rows.push_str(&format!(
            "| {} | `{}` | {} | {} ([source]({})) |\n",
            c.id,
            c.name,
            c.severity.as_str(),
            c.why,
            c.reference
        ));
    }
    rows
}

/// Escapes a workflow command's message (as @actions/core does).
fn message(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn property(s: &str) -> String {
    message(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README lists every check as the catalog does.
    #[test]
    fn the_readme_lists_every_check_as_the_catalog_does() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("| code | check | severity |")
            .expect("the README has a table of checks");
        let table: String = readme[start..]
            .lines()
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            catalog_table(),
            "the README's table should read:\n{}",
            catalog_table()
        );
    }

    #[test]
    fn annotations_escape_what_would_end_them() {
        assert_eq!(message("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
