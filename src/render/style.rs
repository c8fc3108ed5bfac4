//! Terminal styling, decided once from `--color` and `NO_COLOR`.

use owo_colors::OwoColorize;

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
            text.green().bold().to_string()
        } else {
            text.to_string()
        }
    }

    /// A verdict that means "stop".
    pub fn bad(&self, text: &str) -> String {
        if self.color {
            text.red().bold().to_string()
        } else {
            text.to_string()
        }
    }

    pub fn warn(&self, text: &str) -> String {
        if self.color {
            text.yellow().to_string()
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, text: &str) -> String {
        if self.color {
            text.dimmed().to_string()
        } else {
            text.to_string()
        }
    }
}
