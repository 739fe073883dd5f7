//! The output folder's lock, and the write-then-rename dance.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive OS-level lock on the output folder. The kernel releases it
/// when the process ends, however it ends, so a crashed run never leaves a
/// stale lock behind.
///
/// The lock file also says who holds it (`pid N since T`, one line), for
/// the message a second run prints. The holder writes that line right
/// after locking and clears it just before letting go; a run that was
/// killed leaves its line behind, so a waiting run trusts a line only if
/// its process is alive (a dead holder's line is what a new winner is
/// about to replace).
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Cleared while still held (the lock goes with the file handle).
        let _ = self.file.set_len(0);
    }
}

/// How long a second run waits for the holder's line to appear.
const HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn lock(out: &Path) -> Result<Lock> {
    let err = |e: std::io::Error| Error::Publish {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    fs::create_dir_all(out).map_err(err)?;
    let path = out.join(".lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {
            let holder = format!(
                "pid {} since {}\n",
                std::process::id(),
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
            );
            // One write from the start, then the rest cut: a reader sees a
            // whole line or none (it wants the line's end).
            file.rewind().map_err(err)?;
            file.write_all(holder.as_bytes()).map_err(err)?;
            file.set_len(holder.len() as u64).map_err(err)?;
            Ok(Lock { file })
        }
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: out.to_path_buf(),
            holder: holder(&mut file),
        }),
        Err(fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

/// Who holds the lock: the line of a live process, waited for a moment
/// (the winner of a race writes it just after locking).
fn holder(file: &mut File) -> String {
    let started = std::time::Instant::now();
    loop {
        let mut text = String::new();
        let _ = file.rewind();
        let _ = file.read_to_string(&mut text);
        if let Some(line) = text
            .split_inclusive('\n')
            .next()
            .filter(|l| l.ends_with('\n'))
        {
            let line = line.trim();
            let pid = line
                .strip_prefix("pid ")
                .and_then(|r| r.split(' ').next())
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(alive) {
                return line.to_string();
            }
        }
        if started.elapsed() > HOLDER_WAIT {
            return "holder unknown".into();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether a process with this id exists.
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 checks the process exists; it sends nothing.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// A folder under `<out>/.tmp/` that becomes a run folder on commit.
pub struct Staging {
    pub dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

/// A run that fails removes its half-built folder at once; one that is
/// killed leaves it for the next run's [`clean_leftovers`].
impl Drop for Staging {
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

impl Staging {
    pub fn new(out: &Path, run_id: &str) -> Result<Self> {
        let dir = out.join(".tmp").join(run_id);
        fs::create_dir_all(&dir).map_err(|e| Error::Publish {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        Ok(Staging {
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
        sync_dir(&self.dir);
        let final_dir = parent.join(run_id);
        fs::rename(&self.dir, &final_dir).map_err(|e| err(&final_dir, e))?;
        self.committed = true;
        sync_dir(&parent);

        // Swap `latest`: make a new symlink beside it, then rename over.
        let target = Path::new("runs").join(date).join(run_id);
        let latest = self.out.join("latest");
        let tmp_link = self.out.join(".tmp").join(format!("latest-{run_id}"));
        let _ = fs::remove_file(&tmp_link);
        symlink(&target, &tmp_link).map_err(|e| err(&tmp_link, e))?;
        fs::rename(&tmp_link, &latest).map_err(|e| err(&latest, e))?;
        sync_dir(&self.out);
        Ok(final_dir)
    }
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
