//! The work directory's lock: one run at a time, and who holds it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

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
