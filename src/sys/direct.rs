//! Large files a run writes once and does not read back (raw copies of
//! local feeds, staged copies, published outputs), written past the page
//! cache.
//!
//! A buffered write copies every byte into the kernel's page cache, which
//! on the machines siap runs on costs more CPU than parsing the bytes did
//! (about 0.4 GB/s per core). Written with `O_DIRECT` from an aligned
//! buffer, the same bytes go to the disk without that copy; a thread per
//! file waits for the disk while the caller fills the next buffer. Where the
//! filesystem refuses `O_DIRECT` (tmpfs, some network filesystems, other
//! systems than Linux) the file is written normally; the bytes are the same
//! either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Alignment of buffer addresses, lengths and file offsets for `O_DIRECT`
/// (the largest logical block size in common use).
const ALIGN: usize = 4096;

/// Bytes written at a time.
const BLOCK: usize = 4 << 20;

/// Blocks in flight per file: one being filled, one being written.
const BUFFERS: usize = 2;

/// A block-sized buffer whose usable part starts at an aligned address
/// (empty by default: what a file holds once its blocks are handed on).
#[derive(Default)]
struct Block {
    mem: Vec<u8>,
    start: usize,
}

/// Blocks of finished files, for the next ones: a fresh block is new
/// memory the system must zero page by page (two per file, dozens of files
/// a run). Emptied where a run changes phase ([`release_spare`]).
static SPARE: std::sync::Mutex<Vec<Block>> = std::sync::Mutex::new(Vec::new());

/// The most blocks kept spare: two per file being written at once.
const SPARE_MAX: usize = 8;

impl Block {
    /// A spare block (its bytes left from an earlier file: only what is
    /// written into it is ever written out) or a new one.
    fn new() -> Block {
        if let Some(b) = SPARE.lock().ok().and_then(|mut s| s.pop()) {
            return b;
        }
        let mem = vec![0u8; BLOCK + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Block { mem, start }
    }

    fn spare(self) {
        if self.mem.is_empty() {
            return;
        }
        if let Ok(mut s) = SPARE.lock()
            && s.len() < SPARE_MAX
        {
            s.push(self);
        }
    }

    fn bytes(&self, len: usize) -> &[u8] {
        &self.mem[self.start..self.start + len]
    }
}

/// A file written through aligned buffers, a block at a time, by a thread
/// of its own: a direct write waits for the disk, and the thread filling
/// the next block (staging, publishing) should not. Call
/// [`DirectFile::finish`] to write the last partial block and learn of any
/// failed write: dropping the writer without it leaves the file short.
pub struct DirectFile {
    path: PathBuf,
    /// Full blocks (and their lengths) to the writing thread.
    full: Option<SyncSender<(Block, usize)>>,
    /// Written blocks back from it, for reuse.
    empty: Receiver<Block>,
    writer: Option<JoinHandle<io::Result<File>>>,
    /// Blocks made so far (at most [`BUFFERS`]).
    made: usize,
    current: Block,
    len: usize,
    /// The writing thread's error, once learnt: every later call reports
    /// it again (the thread is gone by then).
    failed: Option<(io::ErrorKind, String)>,
}

impl DirectFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<DirectFile> {
        let (file, direct) = match open_direct(path) {
            Ok(f) => (f, true),
            Err(_) => (File::create(path)?, false),
        };
        let (full, to_write) = sync_channel::<(Block, usize)>(BUFFERS);
        let (give_back, empty) = sync_channel::<Block>(BUFFERS);
        let owned = path.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("siap-direct-write".into())
            .spawn(move || write_blocks(owned, file, direct, to_write, give_back))?;
        Ok(DirectFile {
            path: path.to_path_buf(),
            full: Some(full),
            empty,
            writer: Some(writer),
            made: 1,
            current: Block::new(),
            len: 0,
            failed: None,
        })
    }

    /// Hands the current block (its first `len` bytes) to the writing
    /// thread and takes an empty one: a new one while fewer than
    /// [`BUFFERS`] exist, else the next one written.
    fn hand_over(&mut self, len: usize) -> io::Result<()> {
        let next = match self.empty.try_recv() {
            Ok(b) => b,
            Err(_) if self.made < BUFFERS => {
                self.made += 1;
                Block::new()
            }
            Err(_) => match self.empty.recv() {
                Ok(b) => b,
                // The thread stopped: a write failed.
                Err(_) => return Err(self.stopped()),
            },
        };
        let block = std::mem::replace(&mut self.current, next);
        let sent = self.full.as_ref().map(|tx| tx.send((block, len)));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.stopped());
        }
        self.len = 0;
        Ok(())
    }

    /// The writing thread's error, once it has stopped.
    fn stopped(&mut self) -> io::Error {
        self.full = None;
        let e = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("the writing thread panicked"),
            _ => match &self.failed {
                Some((kind, message)) => return io::Error::new(*kind, message.clone()),
                None => io::Error::other("the file's writing thread stopped"),
            },
        };
        self.failed = Some((e.kind(), e.to_string()));
        e
    }

    /// Reads from `input` straight into the file's next bytes (no copy
    /// through another buffer), shows them to `seen` before they are
    /// handed on, and returns how many were read (0 at the end of
    /// `input`). The outer error is a failed write; the inner one a failed
    /// read, reported as the caller's input.
    pub fn read_from(
        &mut self,
        input: &mut impl io::Read,
        seen: impl FnOnce(&[u8]),
    ) -> io::Result<io::Result<usize>> {
        let at = self.current.start + self.len;
        let free = &mut self.current.mem[at..self.current.start + BLOCK];
        let n = match input.read(free) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        seen(&free[..n]);
        self.len += n;
        if self.len == BLOCK {
            self.hand_over(BLOCK)?;
        }
        Ok(Ok(n))
    }

    /// Writes what is still buffered and waits for every write. Returns a
    /// handle to the file (for `sync_all`, which covers every handle's
    /// writes).
    pub fn finish(mut self) -> io::Result<File> {
        // The aligned part through the thread; the unaligned end after it,
        // through a plain handle.
        let whole = self.len / ALIGN * ALIGN;
        let tail =
            self.current.mem[self.current.start + whole..self.current.start + self.len].to_vec();
        if whole > 0 {
            self.hand_over(whole)?;
        }
        self.full = None;
        let file = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r?,
            Some(Err(_)) => return Err(io::Error::other("the writing thread panicked")),
            // Stopped earlier: its error again.
            None => return Err(self.stopped()),
        };
        if tail.is_empty() {
            return Ok(file);
        }
        let mut plain = OpenOptions::new().append(true).open(&self.path)?;
        plain.write_all(&tail)?;
        Ok(plain)
    }
}

/// The writing thread: writes each block it is handed, in order, and hands
/// it back. Stops at the first failed write (the writer learns of it at
/// its next hand-over or at `finish`).
fn write_blocks(
    path: PathBuf,
    mut file: File,
    mut direct: bool,
    blocks: Receiver<(Block, usize)>,
    give_back: SyncSender<Block>,
) -> io::Result<File> {
    for (block, len) in blocks {
        let bytes = block.bytes(len);
        match file.write_all(bytes) {
            Ok(()) => {}
            // The filesystem took the flag at open but refuses the write:
            // go on without it, from where the file stands.
            Err(e) if direct && e.raw_os_error() == Some(EINVAL) => {
                file = OpenOptions::new().append(true).open(&path)?;
                direct = false;
                file.write_all(bytes)?;
            }
            Err(e) => return Err(e),
        }
        // The writer may be gone (finishing): nothing to give back to.
        let _ = give_back.try_send(block);
    }
    Ok(file)
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK - self.len);
        let at = self.current.start + self.len;
        self.current.mem[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == BLOCK {
            self.hand_over(BLOCK)?;
        }
        Ok(n)
    }

    /// Writes nothing: a partial block waits for [`DirectFile::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for DirectFile {
    /// Dropped without `finish` (an error elsewhere): stop the thread and
    /// wait for it, so no write lands after the caller moved on.
    /// Either way, the blocks are kept for the next file.
    fn drop(&mut self) {
        self.full = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        for b in self.empty.try_iter() {
            b.spare();
        }
        std::mem::take(&mut self.current).spare();
    }
}

/// Frees the spare blocks.
pub fn release_spare() {
    if let Ok(mut s) = SPARE.lock() {
        s.clear();
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
        // Dropping a writer without finishing it stops its thread.
        drop(DirectFile::create(&dir.path().join("dropped")).unwrap());
        // Rewriting a longer file truncates it.
        let path = dir.path().join("again");
        std::fs::write(&path, &data).unwrap();
        let mut f = DirectFile::create(&path).unwrap();
        f.write_all(b"short").unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }

    /// A file filled straight from a reader, in pieces that do not fit its
    /// blocks, holds what was read; every byte read is seen once, in order.
    #[test]
    fn read_from_copies_and_shows_every_byte() {
        struct Pieces<'a>(&'a [u8]);
        impl io::Read for Pieces<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(777_777);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..BLOCK * 2 + 12_345)
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        let path = dir.path().join("read");
        let mut f = DirectFile::create(&path).unwrap();
        let (mut input, mut seen) = (Pieces(&data), Vec::new());
        while f
            .read_from(&mut input, |b| seen.extend_from_slice(b))
            .unwrap()
            .unwrap()
            > 0
        {}
        f.finish().unwrap();
        assert!(seen == data);
        assert!(std::fs::read(&path).unwrap() == data);
    }

    /// A write that fails on the writing thread is reported: at a later
    /// write or, at the latest, by `finish`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_reported() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let mut f = DirectFile::create(full).unwrap();
        let data = vec![7u8; BLOCK * 3 + 5];
        let written = f.write_all(&data);
        let finished = f.finish();
        let e = written.err().or(finished.err()).expect("an error");
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        // Once learnt, the error is what every later call reports.
        let mut f = DirectFile::create(full).unwrap();
        let first = f.write_all(&data).unwrap_err();
        let again = f.write_all(&data).unwrap_err();
        let finished = f.finish().unwrap_err();
        for e in [&first, &again, &finished] {
            assert!(e.to_string().contains("No space left"), "{e}");
        }
    }
}
