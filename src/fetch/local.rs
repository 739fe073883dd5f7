//! Local files: copied into the run folder while hashed.

use std::io::{Read, Write};
use std::path::Path;

use super::{Fetched, Hasher};

pub async fn fetch(path: &Path, dest: &Path) -> Result<Fetched, String> {
    let (path, dest) = (path.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || copy(&path, &dest))
        .await
        .map_err(|e| format!("copy task failed: {e}"))?
}

fn copy(path: &Path, dest: &Path) -> Result<Fetched, String> {
    let mut from =
        std::fs::File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut to = std::fs::File::create(dest)
        .map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from
            .read(&mut buf)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        to.write_all(&buf[..n])
            .map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
    }
    let bytes = h.bytes;
    Ok(Fetched {
        path: dest.to_path_buf(),
        bytes,
        sha256: h.hex(),
        attempts: 1,
        ..Default::default()
    })
}
