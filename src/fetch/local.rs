//! Local files: copied into the run folder.

use std::path::Path;

use super::Fetched;

pub async fn fetch(path: &Path, dest: &Path) -> Result<Fetched, String> {
    let (path, dest) = (path.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || copy(&path, &dest))
        .await
        .map_err(|e| format!("copy task failed: {e}"))?
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
