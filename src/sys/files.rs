//! Local files: a source's file opened safely, copied under a cap, and
//! the sha256 of what is read.
//!
//! Only regular files are sources (a symlink is followed to one): a FIFO
//! nobody writes would hang the run with its lock held, and `/dev/zero`
//! would fill the disk. A source is opened without blocking and checked
//! before a byte is read; copies stop at the source's `max_bytes`.

use crate::error::{Action, Problem};
use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// sha256 and size of data written through it.
#[derive(Default)]
pub struct Hasher {
    hasher: Sha256,
    pub bytes: u64,
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
    }
    pub fn hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// Hashes a file already on disk.
pub fn hash_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let bytes = h.bytes;
    Ok((bytes, h.hex()))
}

/// What a path names, for a message.
fn kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens a local source: a regular file of at most `max_bytes`, opened
/// without waiting for a writer (a FIFO would block `open` itself).
pub fn open_regular(path: &Path, max_bytes: u64) -> Result<(File, Metadata), Problem> {
    let cannot = |e| Problem::io(Action::Read, path)(e);
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(Problem::NotAFile {
            path: path.to_path_buf(),
            kind: kind(&meta),
        });
    }
    if meta.len() > max_bytes {
        return Err(Problem::TooLarge {
            what: "the file".into(),
            size: Some(meta.len()),
            limit: max_bytes,
        });
    }
    Ok((file, meta))
}

/// Copies a local source into `dest`, at most `max_bytes` (a file that
/// grows while it is copied stops there too). Returns the bytes copied.
pub fn copy_capped(path: &Path, dest: &Path, max_bytes: u64) -> Result<u64, Problem> {
    let (from, _) = open_regular(path, max_bytes)?;
    let mut to = File::create(dest).map_err(Problem::io(Action::Write, dest))?;
    // Copied in the kernel (`copy_file_range`) where it can be.
    let bytes = std::io::copy(&mut from.take(max_bytes.saturating_add(1)), &mut to)
        .map_err(Problem::io(Action::Copy, path))?;
    if bytes > max_bytes {
        return Err(Problem::TooLarge {
            what: "the file".into(),
            size: None,
            limit: max_bytes,
        });
    }
    to.flush().map_err(Problem::io(Action::Write, dest))?;
    Ok(bytes)
}
