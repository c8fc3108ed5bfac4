//! What every command shares: output format, colour, verbosity, and how to find the index.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::bundled;
use crate::cli::{ColorChoice, Format, GlobalArgs};
use crate::core::index::Index;
use crate::error::{Error, Result};
use crate::render::style::Style;

pub struct Context {
    pub format: Format,
    pub style: Style,
    pub verbose: u8,
    pub offline: bool,
    pub index_path: Option<PathBuf>,
}

impl Context {
    pub fn new(global: &GlobalArgs) -> Self {
        Context {
            format: global.format,
            style: Style {
                color: use_color(global.color, global.format),
            },
            verbose: global.verbose,
            offline: global.offline,
            index_path: global.index.clone(),
        }
    }

    /// The index to decide with: `--index FILE`, else the bundled one.
    pub fn load_index(&self) -> Result<Index> {
        if let Some(path) = &self.index_path {
            return load_index_file(path);
        }
        bundled::load()
    }

    /// Prints a report: JSON on stdout, or the human text on stdout.
    pub fn emit(&self, json: impl FnOnce() -> String, human: impl FnOnce(Style) -> String) {
        match self.format {
            Format::Json => print!("{}", json()),
            Format::Human => print!("{}", human(self.style)),
        }
    }

    /// A note for humans on stderr, shown with -v.
    pub fn info(&self, text: &str) {
        if self.verbose > 0 {
            eprintln!("migtag: {text}");
        }
    }
}

pub fn load_index_file(path: &std::path::Path) -> Result<Index> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid_input(format!(
            "cannot read the index file {}: {e}",
            path.display()
        ))
        .with_hint("check the path given to --index")
    })?;
    Index::from_json(&text).map_err(|e| e.context(format!("index file {}", path.display())))
}

fn use_color(choice: ColorChoice, format: Format) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            format == Format::Human
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}
