//! Terminal styling, decided once from `--color` and `NO_COLOR`.

use super::own_sgr;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn plain() -> Self {
        Style { color: false }
    }

    /// A verdict that means "go ahead".
    pub fn good(&self, text: &str) -> String {
        if self.color {
            paint(&["1", "32"], text, &["39", "0"])
        } else {
            text.to_string()
        }
    }

    /// A verdict that means "stop".
    pub fn bad(&self, text: &str) -> String {
        if self.color {
            paint(&["1", "31"], text, &["39", "0"])
        } else {
            text.to_string()
        }
    }

    pub fn warn(&self, text: &str) -> String {
        if self.color {
            paint(&["33"], text, &["39"])
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, text: &str) -> String {
        if self.color {
            paint(&["2"], text, &["0"])
        } else {
            text.to_string()
        }
    }
}

/// `text` between migtag's own colour sequences (markers that only the final writer turns
/// into `ESC [ .. m`, so that escapes inside `text`, which may be input, stay escaped).
fn paint(on: &[&str], text: &str, off: &[&str]) -> String {
    let mut out = String::new();
    for p in on {
        out.push_str(&own_sgr(p));
    }
    out.push_str(text);
    for p in off {
        out.push_str(&own_sgr(p));
    }
    out
}
