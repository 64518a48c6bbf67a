//! Durations as kubectl writes them (`30s`, `5m`, `1h30m`, `250ms`, or plain
//! seconds): parsed from the command line, written in messages.

use std::time::Duration;

/// Parses `30s`, `5m`, `1h30m`, `250ms`, or plain seconds (`30`), as kubectl does.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    let bad = || {
        format!("invalid duration {s:?}: use seconds (30) or a number with a unit (30s, 5m, 1h30m)")
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            "ms"
        } else {
            match c {
                'h' => "h",
                'm' => "m",
                's' => "s",
                _ => return Err(bad()),
            }
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            _ => n / 1000.0,
        };
        let part = Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    if !number.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// `90s` → `1m30s`, for messages.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) if d.subsec_millis() > 0 && s < 10 => format!("{}ms", d.as_millis()),
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{PIECES, Rng};

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(
            parse_duration("5 minutes").is_err()
                && parse_duration("m").is_err()
                && parse_duration("").is_err()
        );
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn durations_from_the_command_line_never_panic() {
        let mut rng = Rng(99);
        for _ in 0..20_000 {
            let _ = parse_duration(&rng.text(PIECES));
        }
        assert!(parse_duration("1e400s").is_err());
        assert!(parse_duration("999999999999999999999h").is_err());
    }
}
