//! Reading and validating binding files: serde `Raw*` types (phase 1) and a validation pass
//! over all files at once (phase 2) that collects every problem as `FILE:LINE:COL: message`.
//!
//! [`parse_files`] is pure; [`load_dir`] only lists and reads the directory, then calls the
//! same validation.

use std::path::{Path, PathBuf};

use super::read::{ReadError, io_reason, read_binding_file};
use super::{BindingSet, Context, MAX_FILE_BYTES};
use crate::config::{ConfigError, ConfigErrors};

mod connection;
mod host;
mod raw;
mod validate;

use validate::{Input, validate};

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Whether a directory entry named `name` is a binding file: it ends in `.toml` and is not a
/// dotfile (`.x.toml.swp`, `.#x.toml`), an editor backup (`x.toml~`), swap (`*.swp`, `*.swx`),
/// autosave (`#x.toml#`) or temporary file (`*.tmp`).
///
/// The loader reads exactly these files and the watcher reacts to exactly these names, so
/// that editor churn neither loads nor triggers anything.
pub(crate) fn is_binding_file_name(name: &str) -> bool {
    let ignored = name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'));
    !ignored && name.len() > ".toml".len() && name.ends_with(".toml")
}

/// Loads every binding file of `dir` (not recursive, sorted by name) and validates them as a
/// whole.
///
/// Only binding files are read (`*.toml`, no dotfiles, editor backups or temporary files);
/// directories are skipped. An empty directory is a valid, empty set.
///
/// # Errors
///
/// [`ConfigErrors`]: the directory cannot be listed (naming it), a file cannot be read, or
/// everything [`parse_files`] reports; all of them at once.
pub fn load_dir(dir: &Path, ctx: &Context<'_>) -> Result<BindingSet, ConfigErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        single(
            dir,
            format!("cannot read the binding directory: {}", io_reason(&e)),
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            single(
                dir,
                format!("cannot read the binding directory: {}", io_reason(&e)),
            )
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::debug!(dir = %dir.display(), name = ?name, "skipping a non-UTF-8 file name");
            continue;
        };
        if !is_binding_file_name(name) {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks, so a link to a file counts as a file.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            // A dangling link or a file removed since the listing: reading it reports it.
            _ => paths.push(path),
        }
    }
    paths.sort();

    let texts: Vec<(PathBuf, Result<String, ReadError>)> = paths
        .into_iter()
        .map(|path| {
            let text = read_binding_file(&path, MAX_FILE_BYTES);
            (path, text)
        })
        .collect();
    let inputs: Vec<Input<'_>> = texts
        .iter()
        .map(|(path, text)| Input {
            path,
            text: text.as_deref(),
        })
        .collect();
    let set = validate(&inputs, ctx)?;
    tracing::debug!(
        dir = %dir.display(),
        files = set.files.len(),
        hosts = set.hosts.len(),
        connections = set.connections.len(),
        "binding files loaded"
    );
    Ok(set)
}

/// Parses and validates binding files given as `(path, text)`, in the order given, as one
/// namespace.
///
/// Pure: reads nothing. `path` is only used to name the file in errors and in the model.
///
/// # Errors
///
/// [`ConfigErrors`] with every problem found, in file order and, within a file, in position
/// order. A TOML syntax or type error stops that file at its first error, but the other files
/// are still validated.
pub fn parse_files(
    files: &[(PathBuf, String)],
    ctx: &Context<'_>,
) -> Result<BindingSet, ConfigErrors> {
    let inputs: Vec<Input<'_>> = files
        .iter()
        .map(|(path, text)| Input {
            path,
            text: Ok(text),
        })
        .collect();
    validate(&inputs, ctx)
}

fn single(path: &Path, message: String) -> ConfigErrors {
    ConfigErrors {
        errors: vec![ConfigError {
            path: path.to_owned(),
            position: None,
            message,
        }],
    }
}
