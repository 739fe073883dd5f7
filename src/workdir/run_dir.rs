//! A run being written: a folder under `<work-dir>/.tmp/` that becomes
//! `runs/<date>/<run-id>` in one rename, after which `latest` is swapped
//! to it in another. Nothing half-written is ever visible.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A folder under `<out>/.tmp/` that becomes a run folder on commit.
pub struct RunDir {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

/// A run that fails removes its half-built folder at once; one that is
/// killed leaves it for the next run's [`clean_leftovers`].
impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes what interrupted runs left in `.tmp/`. Only called while holding
/// the lock, so nothing in there belongs to a live run.
pub fn clean_leftovers(out: &Path) {
    let tmp = out.join(".tmp");
    if let Ok(entries) = fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            tracing::debug!(path = %p.display(), "Removed a leftover temporary file.");
        }
    }
}

impl RunDir {
    /// The folder being written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `raw/`: each source's bytes as fetched (created).
    pub fn raw(&self) -> Result<PathBuf> {
        self.subfolder("raw")
    }

    /// `staged/`: each feed's validated rows (created).
    pub fn staged(&self) -> Result<PathBuf> {
        self.subfolder("staged")
    }

    /// Working files of the run (rejected rows, key partitions): removed
    /// before the folder is committed, never published.
    pub fn scratch(&self) -> PathBuf {
        self.dir.join(".scratch")
    }

    fn subfolder(&self, name: &str) -> Result<PathBuf> {
        let d = self.dir.join(name);
        fs::create_dir_all(&d).map_err(|e| Error::Publish {
            path: d.clone(),
            message: e.to_string(),
        })?;
        Ok(d)
    }

    pub fn new(out: &Path, run_id: &str) -> Result<Self> {
        let dir = out.join(".tmp").join(run_id);
        fs::create_dir_all(&dir).map_err(|e| Error::Publish {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        Ok(RunDir {
            dir,
            out: out.to_path_buf(),
            committed: false,
        })
    }

    /// Moves the finished folder to `runs/<date>/<run_id>` and points
    /// `latest` at it. Returns the run folder.
    pub fn commit(mut self, date: &str, run_id: &str) -> Result<PathBuf> {
        let err = |p: &Path, e: std::io::Error| Error::Publish {
            path: p.to_path_buf(),
            message: e.to_string(),
        };
        let parent = self.out.join("runs").join(date);
        fs::create_dir_all(&parent).map_err(|e| err(&parent, e))?;
        let _ = fs::remove_dir_all(self.scratch());
        sync_dir(&self.dir);
        let final_dir = parent.join(run_id);
        fs::rename(&self.dir, &final_dir).map_err(|e| err(&final_dir, e))?;
        self.committed = true;
        sync_dir(&parent);

        point_latest(&self.out, date, run_id)?;
        Ok(final_dir)
    }
}

/// Points `<out>/latest` at `runs/<date>/<run_id>` in one step: a new
/// symlink made beside it, then renamed over it. Called by a commit, and
/// by a retried finish whose first try was killed between its rename and
/// this swap.
pub fn point_latest(out: &Path, date: &str, run_id: &str) -> Result<()> {
    let err = |p: &Path, e: std::io::Error| Error::Publish {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    let target = Path::new("runs").join(date).join(run_id);
    let latest = out.join("latest");
    let tmp_link = out.join(".tmp").join(format!("latest-{run_id}"));
    let _ = fs::remove_file(&tmp_link);
    if let Some(parent) = tmp_link.parent() {
        fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
    }
    symlink(&target, &tmp_link).map_err(|e| err(&tmp_link, e))?;
    fs::rename(&tmp_link, &latest).map_err(|e| err(&latest, e))?;
    sync_dir(out);
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "siap publishes through a symlink and needs a Unix system",
    ))
}

/// Makes a rename durable (best effort: not every filesystem supports it).
fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}
