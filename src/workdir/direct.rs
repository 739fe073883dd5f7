//! Large files a run writes once and does not read back (raw copies of
//! local feeds, staged copies, published outputs), written past the page
//! cache.
//!
//! A buffered write copies every byte into the kernel's page cache, which
//! on the machines siap runs on costs more CPU than parsing the bytes did
//! (about 0.4 GB/s per core). Written with `O_DIRECT` from an aligned
//! buffer, the same bytes go to the disk without that copy. Where the
//! filesystem refuses `O_DIRECT` (tmpfs, some network filesystems, other
//! systems than Linux) the file is written normally; the bytes are the same
//! either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Alignment of buffer addresses, lengths and file offsets for `O_DIRECT`
/// (the largest logical block size in common use).
const ALIGN: usize = 4096;

/// Bytes written at a time.
const BLOCK: usize = 4 << 20;

/// A file written through an aligned buffer, a block at a time. Call
/// [`DirectFile::finish`] to write the last partial block: dropping the
/// writer without it leaves the file short.
pub struct DirectFile {
    path: PathBuf,
    file: File,
    direct: bool,
    /// `BLOCK + ALIGN` bytes; the block starts at `start`, aligned.
    mem: Vec<u8>,
    start: usize,
    len: usize,
}

impl DirectFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<DirectFile> {
        let (file, direct) = match open_direct(path) {
            Ok(f) => (f, true),
            Err(_) => (File::create(path)?, false),
        };
        let mem = vec![0u8; BLOCK + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Ok(DirectFile {
            path: path.to_path_buf(),
            file,
            direct,
            mem,
            start,
            len: 0,
        })
    }

    /// Writes `len` buffered bytes (a multiple of [`ALIGN`] while direct).
    fn write_buffered(&mut self, len: usize) -> io::Result<()> {
        let bytes = &self.mem[self.start..self.start + len];
        match self.file.write_all(bytes) {
            Ok(()) => Ok(()),
            // The filesystem took the flag at open but refuses the write:
            // go on without it, from where the file stands.
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                self.file = OpenOptions::new().append(true).open(&self.path)?;
                self.direct = false;
                self.file.write_all(bytes)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes what is still buffered. Returns a handle to the file (for
    /// `sync_all`, which covers every handle's writes).
    pub fn finish(mut self) -> io::Result<File> {
        let whole = if self.direct {
            self.len / ALIGN * ALIGN
        } else {
            self.len
        };
        if whole > 0 {
            self.write_buffered(whole)?;
        }
        let tail = self.start + whole..self.start + self.len;
        if !tail.is_empty() {
            // The unaligned end goes through a plain handle.
            let mut plain = OpenOptions::new().append(true).open(&self.path)?;
            plain.write_all(&self.mem[tail])?;
            return Ok(plain);
        }
        Ok(self.file)
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK - self.len);
        let at = self.start + self.len;
        self.mem[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == BLOCK {
            self.write_buffered(BLOCK)?;
            self.len = 0;
        }
        Ok(n)
    }

    /// Writes nothing: a partial block waits for [`DirectFile::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> io::Result<File> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the block and alignment edges reads back the
    /// same, written in pieces of every size.
    #[test]
    fn reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..BLOCK * 2 + ALIGN * 3 + 17)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            BLOCK,
            BLOCK + 5,
            data.len(),
        ] {
            for piece in [1000, ALIGN, BLOCK + 1] {
                let path = dir.path().join(format!("f{len}-{piece}"));
                let mut f = DirectFile::create(&path).unwrap();
                for part in data[..len].chunks(piece) {
                    f.write_all(part).unwrap();
                }
                f.finish().unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), &data[..len], "{len} {piece}");
            }
        }
        // Rewriting a longer file truncates it.
        let path = dir.path().join("again");
        std::fs::write(&path, &data).unwrap();
        let mut f = DirectFile::create(&path).unwrap();
        f.write_all(b"short").unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }
}
