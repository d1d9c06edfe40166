//! Errors and warnings about a config file, each pointing at a `FILE:LINE:COL`: the shared
//! vocabulary of config and binding file validation, separate so it depends on neither.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (in characters) in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Position {
    /// The position of byte `offset` in `src` (clamped to the end of `src`).
    pub(crate) fn of(src: &str, offset: usize) -> Position {
        let mut pos = Position { line: 1, col: 1 };
        for (i, c) in src.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                pos.line += 1;
                pos.col = 1;
            } else {
                pos.col += 1;
            }
        }
        pos
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One problem with a config file, printed as `FILE:LINE:COL: message` (or `FILE: message`
/// when there is no position, e.g. the file cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The config file, as given.
    pub path: PathBuf,
    /// Where in the file; `None` for problems with the file as a whole.
    pub position: Option<Position>,
    /// What is wrong, lowercase, naming the key.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(pos) => write!(f, "{}:{pos}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Every problem found in a config file, in file order; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub(crate) errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The individual problems, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    pub(super) fn single(path: &Path, position: Option<Position>, message: String) -> ConfigErrors {
        ConfigErrors {
            errors: vec![ConfigError {
                path: path.to_owned(),
                position,
                message,
            }],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something allowed in a config file but worth an operator's attention, printed as
/// `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The config file, as given.
    pub path: PathBuf,
    /// Where in the file.
    pub position: Position,
    /// What to look at, lowercase.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.path.display(),
            self.position,
            self.message
        )
    }
}
