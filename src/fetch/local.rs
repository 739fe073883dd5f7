//! Local files: copied into the run folder, now or (for feeds that
//! staging streams) by staging as it reads them.
//!
//! Only regular files are sources (a symlink is followed to one): a FIFO
//! nobody writes would hang the run with its lock held, and `/dev/zero`
//! would fill the disk. The file is opened without blocking and checked
//! before a byte is read; copies stop at the source's `max_bytes`.

use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::path::Path;

use super::Fetched;

pub async fn fetch(
    path: &Path,
    dest: &Path,
    defer: bool,
    max_bytes: u64,
) -> Result<Fetched, String> {
    let (path, dest) = (path.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || {
        if defer {
            check(&path, &dest, max_bytes)
        } else {
            copy(&path, &dest, max_bytes)
        }
    })
    .await
    .map_err(|e| format!("copy task failed: {e}"))?
}

/// What a path names, for a message.
fn kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens a local source: a regular file of at most `max_bytes`, opened
/// without waiting for a writer (a FIFO would block `open` itself).
pub fn open_regular(path: &Path, max_bytes: u64) -> Result<(File, Metadata), String> {
    let cannot = |e: std::io::Error| format!("cannot read `{}`: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "`{}` is {}, not a regular file: only files can be sources",
            path.display(),
            kind(&meta)
        ));
    }
    if meta.len() > max_bytes {
        return Err(format!(
            "the file is {} bytes, more than max_bytes = {max_bytes}",
            meta.len()
        ));
    }
    Ok((file, meta))
}

/// A file staging will copy while reading it (one read instead of a copy
/// and a read): checked to be a readable file now, so a missing file still
/// fails at fetch.
fn check(path: &Path, dest: &Path, max_bytes: u64) -> Result<Fetched, String> {
    let (_, meta) = open_regular(path, max_bytes)?;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes: meta.len(),
        sha256: String::new(),
        attempts: 1,
        copy_from: Some(path.to_path_buf()),
        ..Default::default()
    })
}

/// Copies a local source into `dest`, at most `max_bytes` (a file that
/// grows while it is copied stops there too). Returns the bytes copied.
pub fn copy_capped(path: &Path, dest: &Path, max_bytes: u64) -> Result<u64, String> {
    let (from, _) = open_regular(path, max_bytes)?;
    let mut to =
        File::create(dest).map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
    // Copied in the kernel (`copy_file_range`) where it can be.
    let bytes = std::io::copy(&mut from.take(max_bytes.saturating_add(1)), &mut to)
        .map_err(|e| format!("cannot copy `{}`: {e}", path.display()))?;
    if bytes > max_bytes {
        return Err(format!(
            "the file is more than max_bytes = {max_bytes} bytes"
        ));
    }
    to.flush()
        .map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
    Ok(bytes)
}

/// Copies now. The sha256 is left to staging, which reads every byte of
/// the raw copy anyway (see `stage::read::read_file`).
fn copy(path: &Path, dest: &Path, max_bytes: u64) -> Result<Fetched, String> {
    let bytes = copy_capped(path, dest, max_bytes)?;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes,
        sha256: String::new(),
        attempts: 1,
        ..Default::default()
    })
}
