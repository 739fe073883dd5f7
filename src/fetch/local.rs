//! Local files: copied into the run folder, now or (for feeds that
//! staging streams) by staging as it reads them.

use std::path::Path;

use super::Fetched;

pub async fn fetch(path: &Path, dest: &Path, defer: bool) -> Result<Fetched, String> {
    let (path, dest) = (path.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || {
        if defer {
            check(&path, &dest)
        } else {
            copy(&path, &dest)
        }
    })
    .await
    .map_err(|e| format!("copy task failed: {e}"))?
}

/// A file staging will copy while reading it (one read instead of a copy
/// and a read): checked to be a readable file now, so a missing file still
/// fails at fetch.
fn check(path: &Path, dest: &Path) -> Result<Fetched, String> {
    let cannot = |e: std::io::Error| format!("cannot read `{}`: {e}", path.display());
    let f = std::fs::File::open(path).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(format!(
            "cannot read `{}`: it is a directory",
            path.display()
        ));
    }
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes: meta.len(),
        sha256: String::new(),
        attempts: 1,
        copy_from: Some(path.to_path_buf()),
        ..Default::default()
    })
}

/// Copies in the kernel (`copy_file_range`), without reading the bytes
/// into memory. The sha256 is left to staging, which reads every byte of
/// the raw copy anyway (see `stage::read::read_file`).
fn copy(path: &Path, dest: &Path) -> Result<Fetched, String> {
    let mut from =
        std::fs::File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut to = std::fs::File::create(dest)
        .map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
    let bytes = std::io::copy(&mut from, &mut to)
        .map_err(|e| format!("cannot copy `{}`: {e}", path.display()))?;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes,
        sha256: String::new(),
        attempts: 1,
        ..Default::default()
    })
}
