//! Reading one binding file safely: only a regular file (a symlink is followed only to one),
//! never more than a size limit, and never blocking (issue 8: a FIFO named `*.toml` hung the
//! agent, a symlink to `/dev/zero` ate 10 GB).

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

/// Why a binding file cannot be used: its `Display` is the sentence after
/// `FILE: cannot read the binding file: `.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// Reading the file or its metadata failed. Not a `source`: the text already says it.
    #[error("{}", io_reason(.0))]
    Io(std::io::Error),
    /// It is a FIFO, a device, a directory, ... (described by [`describe`]).
    #[error("it is {kind}, not a regular file")]
    NotRegular {
        /// What it is instead, with its article.
        kind: &'static str,
    },
    /// It is larger than the limit (or grew past it while being read).
    #[error("{}", too_large(*limit))]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Its content is not UTF-8.
    #[error("it is not valid UTF-8")]
    NotUtf8,
}

/// The text of the binding file at `path`, or why it cannot be used.
///
/// The type is checked before opening (following symlinks), the file is opened without
/// blocking (`O_NONBLOCK`, so that a FIFO swapped in meanwhile cannot hang the open), checked
/// again on the open handle, and at most `limit + 1` bytes are read.
pub(super) fn read_binding_file(path: &Path, limit: u64) -> Result<String, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    check(&meta, limit)?;
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    check(&meta, limit)?;
    let capacity = usize::try_from(meta.len().min(limit).saturating_add(1)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > limit) {
        // It grew between the check and the read.
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // No blocking open of a FIFO, and a terminal device never becomes ours.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// A regular file no larger than `limit`.
fn check(meta: &Metadata, limit: u64) -> Result<(), ReadError> {
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular {
            kind: describe(&kind),
        });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(())
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "something else"
    }
}

fn too_large(limit: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if limit.is_multiple_of(MIB) && limit > 0 {
        format!(
            "it is larger than the limit of {} MiB ({limit} bytes)",
            limit / MIB
        )
    } else {
        format!("it is larger than the limit of {limit} bytes")
    }
}

/// A short, stable description of an I/O failure for a message.
pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        std::io::ErrorKind::InvalidData => "it is not valid UTF-8".to_owned(),
        _ => e.to_string(),
    }
}
