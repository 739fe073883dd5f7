//! Rejected rows on disk: one feed's exceptions in a compact file, in the
//! order found, so a run holds counts, not rows, until the table is
//! written.

use crate::model::{Exception, Reason, Rejection};

/// One feed's exception rows on disk, in the order found (line order), so
/// a run holds counts, not rows, until the table is written.
pub struct ExceptionFile {
    out: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
}

fn put(out: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
    out.write_all(&(s.len() as u32).to_le_bytes())?;
    out.write_all(s.as_bytes())
}

/// One exception as an [`ExceptionFile`] holds it, written to `out` (a
/// file, or a buffer of rows found off the feed's thread, written later
/// in order with [`ExceptionFile::write_encoded`]).
pub fn encode(e: &Rejection<'_>, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let reason = Reason::ALL.iter().position(|r| *r == e.reason).unwrap_or(0) as u8;
    out.write_all(&e.line.to_le_bytes())?;
    out.write_all(&[reason])?;
    for s in [e.supplier_id, e.product_id, e.field, e.detail, e.raw] {
        put(out, s)?;
    }
    Ok(())
}

impl ExceptionFile {
    pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
        Self::over(std::fs::File::create(path)?, path)
    }

    /// Opens `path` to add exceptions after those already in it.
    pub fn append(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?;
        Self::over(file, path)
    }

    fn over(file: std::fs::File, path: &std::path::Path) -> std::io::Result<Self> {
        Ok(ExceptionFile {
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            path: path.to_path_buf(),
        })
    }

    pub fn write(&mut self, e: &Rejection<'_>) -> std::io::Result<()> {
        encode(e, &mut self.out)
    }

    /// Exceptions [`encode`]d into a buffer, in the order found.
    pub fn write_encoded(&mut self, rows: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.out.write_all(rows)
    }

    /// Flushes and returns the file's path.
    pub fn finish(mut self) -> std::io::Result<std::path::PathBuf> {
        use std::io::Write;
        self.out.flush()?;
        Ok(self.path)
    }
}

/// Reads an [`ExceptionFile`] back, one exception at a time.
pub struct ExceptionReader {
    input: std::io::BufReader<std::fs::File>,
    source: String,
    /// One string's bytes, checked before they join a row's text.
    piece: Vec<u8>,
}

/// One exception as read back, its texts in one buffer that the next
/// row reuses (no allocation per row).
pub struct RawException {
    pub line: u64,
    pub reason: Reason,
    /// Supplier, product, field, detail and raw text, back to back.
    text: String,
    ends: [usize; 5],
}

impl Default for RawException {
    fn default() -> Self {
        RawException {
            line: 0,
            reason: Reason::ALL[0],
            text: String::new(),
            ends: [0; 5],
        }
    }
}

impl RawException {
    fn piece(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
    pub fn supplier_id(&self) -> &str {
        self.piece(0)
    }
    pub fn product_id(&self) -> &str {
        self.piece(1)
    }
    pub fn field(&self) -> &str {
        self.piece(2)
    }
    pub fn detail(&self) -> &str {
        self.piece(3)
    }
    pub fn raw(&self) -> &str {
        self.piece(4)
    }
    /// The text of all five strings (for sizing batches).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// This row as an owned exception of `source`.
    pub fn to_exception(&self, source: &str) -> Exception {
        Exception {
            source: source.to_string(),
            line: self.line,
            reason: self.reason,
            supplier_id: self.supplier_id().to_string(),
            product_id: self.product_id().to_string(),
            field: self.field().to_string(),
            detail: self.detail().to_string(),
            raw: self.raw().to_string(),
        }
    }
}

impl ExceptionReader {
    pub fn open(path: &std::path::Path, source: &str) -> std::io::Result<Self> {
        Ok(ExceptionReader {
            input: std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?),
            source: source.to_string(),
            piece: Vec::new(),
        })
    }

    /// Reads the next exception into `row`; `Ok(false)` at the end of the
    /// file.
    pub fn next_into(&mut self, row: &mut RawException) -> std::io::Result<bool> {
        use std::io::{BufRead, Read};
        if self.input.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut head = [0u8; 9];
        self.input.read_exact(&mut head)?;
        let line: [u8; 8] = head[..8].try_into().expect("eight bytes");
        row.line = u64::from_le_bytes(line);
        row.reason = Reason::ALL[(head[8] as usize).min(Reason::ALL.len() - 1)];
        row.text.clear();
        for end in &mut row.ends {
            let mut n = [0u8; 4];
            self.input.read_exact(&mut n)?;
            self.piece.resize(u32::from_le_bytes(n) as usize, 0);
            self.input.read_exact(&mut self.piece)?;
            let s = std::str::from_utf8(&self.piece)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            row.text.push_str(s);
            *end = row.text.len();
        }
        Ok(true)
    }

    /// The next exception; `Ok(None)` at the end of the file.
    pub fn next_exception(&mut self) -> std::io::Result<Option<Exception>> {
        let mut row = RawException::default();
        Ok(self
            .next_into(&mut row)?
            .then(|| row.to_exception(&self.source)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        let rows: Vec<Exception> = Reason::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| Exception {
                source: "feed".into(),
                supplier_id: format!("S{i}"),
                product_id: if i % 2 == 0 {
                    String::new()
                } else {
                    "P-1".into()
                },
                line: i as u64 * 7,
                field: "quantity".into(),
                reason: *r,
                detail: "`Ω` is not a number".into(),
                raw: format!("S{i},\"a,b\",Ω"),
            })
            .collect();
        // Half written one by one, half encoded into a buffer first.
        let mut f = ExceptionFile::create(&path).unwrap();
        let mut buffer = Vec::new();
        for (i, e) in rows.iter().enumerate() {
            if i % 2 == 0 {
                f.write_encoded(&buffer).unwrap();
                buffer.clear();
                f.write(&e.rejection()).unwrap();
            } else {
                encode(&e.rejection(), &mut buffer).unwrap();
            }
        }
        f.write_encoded(&buffer).unwrap();
        let path = f.finish().unwrap();
        let mut r = ExceptionReader::open(&path, "feed").unwrap();
        let mut back = Vec::new();
        while let Some(e) = r.next_exception().unwrap() {
            back.push(e);
        }
        assert_eq!(back, rows);
    }
}
