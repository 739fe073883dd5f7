//! The distributed path: one run split into tasks an orchestrator fans out
//! (`siap plan` → `siap stage`, one per feed → `siap resolve` → `siap
//! finish`), each a separate process, possibly on another machine.
//!
//! The work splits where `siap run`'s does: staging is per feed and
//! independent; the latest-row rules are keyed across feeds (they need a
//! shuffle) and run as SQL ([`rules.sql`](../../src/split/rules.sql)) on
//! DataFusion, in-process or on a Ballista cluster ([`engine`], behind the
//! `distributed` feature); aggregate and publish are small and are the
//! very code `siap run` uses. The run's files meet in one folder, the
//! *flight* (`<work-dir>/flights/<run-id>/`):
//!
//! ```text
//! plan.json                    the plan: date, feeds in order, rules version
//! raw/<id>                     every source's raw copy
//! staged/<id>.parquet          each feed's staged copy
//! rejected/<id>.bin            each feed's rejected records
//! keyed/{stock,shipments}/<id>.parquet   the rows the rules read
//! tasks/<id>.json              a stage task's facts: its commit point
//! resolved/*.parquet           what the rules decided; resolved/done.json last
//! ```
//!
//! Every file is written beside its place and renamed into it; a file that
//! is already there is kept when the new bytes are the same and refused
//! when they differ, so a retried task writes identical bytes or fails.

pub mod keyed;
pub mod record;
pub mod remote;

#[cfg(feature = "distributed")]
pub mod cluster;
#[cfg(feature = "distributed")]
pub mod engine;
#[cfg(feature = "distributed")]
pub mod stores;

use std::path::{Path, PathBuf};

use crate::error::Problem;
use crate::pipeline::SourceKind;

/// The rules' version: changes whenever `rules.sql` or the keyed rows'
/// columns change meaning, so a flight is never resolved by other rules
/// than those its tasks staged for.
pub const RULES_VERSION: u32 = 2;

/// The keyed rules, as shipped with siap.
pub const RULES_SQL: &str = include_str!("rules.sql");

/// One in-flight distributed run's folder.
#[derive(Debug, Clone)]
pub struct Flight {
    dir: PathBuf,
    /// Where the engine reads the keyed rows when the work directory is on
    /// object storage: the flight's URL there.
    tables: Option<String>,
}

impl Flight {
    /// The flight of run `run_id` in `work_dir`.
    pub fn new(work_dir: &Path, run_id: &str) -> Flight {
        Flight {
            dir: work_dir.join("flights").join(run_id),
            tables: None,
        }
    }

    /// This flight, its keyed rows read from `url` (the flight's folder on
    /// object storage) rather than from its local folder.
    pub fn reading_from(self, url: String) -> Flight {
        Flight {
            tables: Some(url),
            ..self
        }
    }

    /// Where the engine reads one kind's keyed rows: a URL, or an absolute
    /// folder (made if missing: a flight may have no feed of a kind).
    pub fn keyed_table(&self, kind: SourceKind) -> std::io::Result<String> {
        let dir = self.keyed_dir(kind);
        match &self.tables {
            Some(url) => {
                let rel = dir.strip_prefix(&self.dir).unwrap_or(&dir);
                Ok(format!("{url}/{}/", rel.display()))
            }
            None => {
                std::fs::create_dir_all(&dir)?;
                Ok(format!("{}/", std::path::absolute(&dir)?.display()))
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn plan(&self) -> PathBuf {
        self.dir.join("plan.json")
    }

    pub fn raw(&self, id: &str) -> PathBuf {
        self.dir.join("raw").join(id)
    }

    pub fn staged(&self, id: &str) -> PathBuf {
        self.dir.join("staged").join(format!("{id}.parquet"))
    }

    pub fn rejected(&self, id: &str) -> PathBuf {
        self.dir.join("rejected").join(format!("{id}.bin"))
    }

    /// The folder of one kind's keyed rows (a table for the rules).
    pub fn keyed_dir(&self, kind: SourceKind) -> PathBuf {
        self.dir.join("keyed").join(match kind {
            SourceKind::Stock => "stock",
            _ => "shipments",
        })
    }

    pub fn keyed(&self, kind: SourceKind, id: &str) -> PathBuf {
        self.keyed_dir(kind).join(format!("{id}.parquet"))
    }

    pub fn task(&self, id: &str) -> PathBuf {
        self.dir.join("tasks").join(format!("{id}.json"))
    }

    pub fn resolved(&self, name: &str) -> PathBuf {
        self.dir.join("resolved").join(format!("{name}.parquet"))
    }

    pub fn resolved_done(&self) -> PathBuf {
        self.dir.join("resolved").join("done.json")
    }

    /// A scratch folder of one process, inside the flight (same
    /// filesystem, so its files rename into place).
    pub fn scratch(&self, what: &str) -> PathBuf {
        self.dir
            .join(".scratch")
            .join(format!("{what}-{}", std::process::id()))
    }
}

/// Why a file could not be put in its place.
fn place_error(to: &Path, e: impl std::fmt::Display) -> Problem {
    Problem::Internal(format!("cannot write {}: {e}", to.display()))
}

/// Moves `from` to `to`: renamed when `to` is new; when `to` exists,
/// `from` is removed if its bytes are the same, and refused otherwise
/// (`Err` names both).
pub fn place(from: &Path, to: &Path) -> Result<(), Problem> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| place_error(dir, e))?;
    }
    if to.exists() {
        if same_bytes(from, to).map_err(|e| place_error(to, e))? {
            let _ = std::fs::remove_file(from);
            return Ok(());
        }
        return Err(Problem::Internal(format!(
            "{} is already written with other bytes; a retried task must write the same \
             bytes (start a new run with `siap plan` to stage changed inputs)",
            to.display()
        )));
    }
    // A hard link fails if `to` appeared meanwhile: never overwritten.
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => place(from, to),
        Err(e) => Err(place_error(to, e)),
    }
}

/// Writes `bytes` to `to` through a file beside it, as [`place`] does.
pub fn place_bytes(bytes: &[u8], to: &Path) -> Result<(), Problem> {
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| place_error(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        to.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let placed = std::fs::write(&tmp, bytes)
        .map_err(|e| place_error(&tmp, e))
        .and_then(|()| place(&tmp, to));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Reads a JSON file of the flight.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Problem> {
    let text = std::fs::read(path).map_err(|e| {
        Problem::Internal(format!(
            "cannot read {}: {e}{}",
            path.display(),
            if e.kind() == std::io::ErrorKind::NotFound {
                " (has that step of the flight run?)"
            } else {
                ""
            }
        ))
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| Problem::Internal(format!("{} is not valid: {e}", path.display())))
}

/// Writes a JSON file of the flight, as [`place`] does.
pub fn write_json<T: serde::Serialize>(value: &T, to: &Path) -> Result<(), Problem> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| place_error(to, e))?;
    bytes.push(b'\n');
    place_bytes(&bytes, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_placed_once_and_the_same_bytes_again_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("a/b.txt");
        place_bytes(b"one", &to).unwrap();
        place_bytes(b"one", &to).unwrap();
        let refused = place_bytes(b"two", &to).unwrap_err().to_string();
        assert!(
            refused.contains("already written with other bytes"),
            "{refused}"
        );
        assert_eq!(std::fs::read(&to).unwrap(), b"one");
        // Nothing is left beside it.
        assert_eq!(std::fs::read_dir(to.parent().unwrap()).unwrap().count(), 1);
    }
}
