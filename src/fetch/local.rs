//! Local files.

use std::path::Path;

use super::Fetched;

pub async fn fetch(path: &Path) -> Result<Fetched, String> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    Ok(Fetched::new(bytes))
}
