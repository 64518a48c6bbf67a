//! The text view of `events`: kubectl's columns (`LAST SEEN TYPE REASON
//! OBJECT MESSAGE`, `NAMESPACE` first when they span several), a repeated
//! Event's count as kubectl writes it (`5m (x3 over 10m)`).

use jiff::Timestamp;

use super::{Styles, age, sanitize};
use crate::timeline::Occurrence;

/// How the rows are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    pub namespace: bool,
    pub no_headers: bool,
    pub styles: Styles,
}

const HEADER: [&str; 5] = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];

/// `5m`, or `5m (x3 over 10m)` for an Event seen 3 times.
pub fn last_seen(now: Timestamp, e: &Occurrence) -> String {
    let last = age(now, e.last_seen.as_deref());
    let last = if last == "-" {
        "<unknown>".into()
    } else {
        last
    };
    if e.count > 1 {
        format!(
            "{last} (x{} over {})",
            e.count,
            age(now, e.first_seen.as_deref())
        )
    } else {
        last
    }
}

/// `Job/db-migration`, as `kubectl events` names the object.
pub fn object(e: &Occurrence) -> String {
    format!("{}/{}", e.object.kind, e.object.name)
}

fn cells(now: Timestamp, e: &Occurrence, columns: Columns) -> Vec<String> {
    let mut row = vec![];
    if columns.namespace {
        row.push(sanitize(&e.namespace));
    }
    row.extend([
        last_seen(now, e),
        sanitize(&e.type_),
        sanitize(&e.reason),
        sanitize(&object(e)),
        sanitize(e.message.trim_end()),
    ]);
    row
}

fn header(columns: Columns) -> Vec<String> {
    let mut row = vec![];
    if columns.namespace {
        row.push("NAMESPACE".to_string());
    }
    row.extend(HEADER.iter().map(|h| h.to_string()));
    row
}

/// The widths of the columns for these Events (at least the header's).
pub fn widths(now: Timestamp, events: &[Occurrence], columns: Columns) -> Vec<usize> {
    let mut w: Vec<usize> = header(columns).iter().map(|h| h.chars().count()).collect();
    for e in events {
        for (i, c) in cells(now, e, columns).iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    w
}

fn join(row: &[String], widths: &[usize], warning: bool, columns: Columns) -> String {
    let last = row.len().saturating_sub(1);
    let mut out = String::new();
    for (i, c) in row.iter().enumerate() {
        if i == last {
            out.push_str(c);
        } else {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(c.chars().count());
            let is_type = i == usize::from(columns.namespace) + 1;
            if warning && is_type && columns.styles.color {
                out.push_str(&format!("\x1b[33m{c}\x1b[0m"));
            } else {
                out.push_str(c);
            }
            out.push_str(&" ".repeat(pad + 3));
        }
    }
    out.push('\n');
    out
}

/// The header line, for `-w`'s first lines.
pub fn header_line(widths: &[usize], columns: Columns) -> String {
    join(&header(columns), widths, false, columns)
}

/// One Event as a row laid out to `widths` (`-w` adds rows one by one).
pub fn row(now: Timestamp, e: &Occurrence, widths: &[usize], columns: Columns) -> String {
    join(
        &cells(now, e, columns),
        widths,
        e.type_ == "Warning",
        columns,
    )
}

/// All Events as one table.
pub fn table(now: Timestamp, events: &[Occurrence], columns: Columns) -> String {
    let w = widths(now, events, columns);
    let mut out = String::new();
    if !columns.no_headers {
        out.push_str(&header_line(&w, columns));
    }
    for e in events {
        out.push_str(&row(now, e, &w, columns));
    }
    out
}
