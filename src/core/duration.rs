//! Durations: the one parser every `DURATION` flag uses, and the two ways durations are
//! printed (an exact form that reads back through the parser, and a rounded one for how long
//! something has been running).
//!
//! A hand-written parser rather than `humantime`: the flags have always taken a bare number
//! of seconds and decimals (`1.5s`), which `humantime` refuses, and the grammar is five lines.

use std::time::Duration;

/// What the parser accepts, for error messages and `--help`.
pub const SYNTAX: &str = "a number with ms, s, m or h, such as 500ms, 90s, 1.5s, 15m or 1h30m (a bare number is seconds)";

/// Parses `500ms`, `90s`, `1.5s`, `15m`, `1h`, `1h30m`, or a bare number of seconds.
/// Parts add up (`1h30m` is 90 minutes); every part but a lone bare number needs a unit.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration: use {SYNTAX}");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = t.parse::<f64>() {
        // A bare number: seconds. `parse::<f64>` also takes `inf`, `NaN` and `1e9`: refuse
        // anything that is not plain digits with an optional fraction.
        if !is_plain_number(t) {
            return Err(bad());
        }
        return Duration::try_from_secs_f64(n).map_err(|_| bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, after) = rest.split_at(digits);
        if !is_plain_number(number) {
            return Err(bad());
        }
        let (scale, after) = if let Some(a) = after.strip_prefix("ms") {
            (0.001, a)
        } else if let Some(a) = after.strip_prefix('s') {
            (1.0, a)
        } else if let Some(a) = after.strip_prefix('m') {
            (60.0, a)
        } else if let Some(a) = after.strip_prefix('h') {
            (3600.0, a)
        } else {
            return Err(bad());
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        total += n * scale;
        rest = after;
    }
    // Found by the fuzzer: from_secs_f64 panics on a value too large for a Duration.
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Digits with at most one `.` that has a digit on at least one side.
fn is_plain_number(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
        && (!whole.is_empty() || frac.is_some_and(|f| !f.is_empty()))
}

/// Parses a duration for a timeout: more than zero and at most a day.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = parse(text)?;
    if d.is_zero() || d > Duration::from_secs(86_400) {
        return Err(format!("`{text}` must be more than zero and at most a day"));
    }
    Ok(d)
}

/// Parses a duration of whole seconds, at least one: windows, limits and timeouts kept in
/// seconds refuse `500ms` or `1.5s` instead of reading them as 0 s or 1 s (a zero
/// `statement_timeout` would even mean no limit).
pub fn parse_seconds(text: &str) -> Result<u64, String> {
    let d = parse(text)?;
    if d.subsec_nanos() != 0 || d.is_zero() {
        return Err(format!(
            "`{text}` must be a whole number of seconds, at least 1s (such as 1s, 90s or 15m)"
        ));
    }
    Ok(d.as_secs())
}

/// The exact form, which [`parse`] reads back: `15m`, `1h30m30s`, `45s`, `0s`.
pub fn exact(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A rounded form for elapsed times, two units at most: `42s`, `3m05s`, `2h07m`.
pub fn approx(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse(" 15m ").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_seconds("90").unwrap(), 90);
        assert_eq!(parse_seconds("45s").unwrap(), 45);
        for sub in ["500ms", "1.5s", "0s", "0"] {
            assert!(
                parse_seconds(sub)
                    .unwrap_err()
                    .contains("whole number of seconds"),
                "{sub}"
            );
        }
        for bad in [
            "",
            "abc",
            "15x",
            "m",
            "10m5",
            "1e9",
            "inf",
            "NaN",
            "-1s",
            "1..5s",
            ".s",
            "1 h",
            "99999999999999999999999.0",
            "99999999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(parse_timeout("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["0s", "0", "25h", "86401"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn printing() {
        assert_eq!(exact(900), "15m");
        assert_eq!(exact(5430), "1h30m30s");
        assert_eq!(exact(0), "0s");
        for s in [1, 59, 61, 3600, 5430, 90_061] {
            assert_eq!(parse_seconds(&exact(s)).unwrap(), s, "{s} reads back");
        }
        assert_eq!(approx(42.4), "42s");
        assert_eq!(approx(185.0), "3m05s");
        assert_eq!(approx(7620.0), "2h07m");
        assert_eq!(approx(-3.0), "0s");
    }
}
