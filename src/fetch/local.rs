//! Local files: copied into the run folder, now or (for feeds that
//! staging streams) by staging as it reads them.
//!
//! Only regular files are sources, and copies stop at the source's
//! `max_bytes` (see [`crate::sys::files`]).

use crate::error::Problem;
use std::path::Path;

use crate::sys::files::{copy_capped, open_regular};

use super::Fetched;

pub async fn fetch(
    path: &Path,
    dest: &Path,
    defer: bool,
    max_bytes: u64,
) -> Result<Fetched, Problem> {
    let (path, dest) = (path.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || {
        if defer {
            check(&path, &dest, max_bytes)
        } else {
            copy(&path, &dest, max_bytes)
        }
    })
    .await
    .map_err(|e| Problem::Internal(format!("copy task failed: {e}")))?
}

/// A file staging will copy while reading it (one read instead of a copy
/// and a read): checked to be a readable file now, so a missing file still
/// fails at fetch.
fn check(path: &Path, dest: &Path, max_bytes: u64) -> Result<Fetched, Problem> {
    let (_, meta) = open_regular(path, max_bytes)?;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes: meta.len(),
        attempts: 1,
        copy_from: Some(path.to_path_buf()),
        ..Default::default()
    })
}

/// Copies now (the checksum is staging's, which reads every byte).
fn copy(path: &Path, dest: &Path, max_bytes: u64) -> Result<Fetched, Problem> {
    let bytes = copy_capped(path, dest, max_bytes)?;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes,
        attempts: 1,
        ..Default::default()
    })
}
