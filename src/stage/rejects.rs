//! Rejected rows on disk: one feed's exceptions in a compact file, in the
//! order found, so a run holds counts, not rows, until the table is
//! written.

use crate::model::{Exception, Reason, Rejection};

const REASONS: [Reason; 12] = [
    Reason::MissingField,
    Reason::BadNumber,
    Reason::NegativeQuantity,
    Reason::BadDate,
    Reason::UnknownStatus,
    Reason::AsOfAfterRunDate,
    Reason::UnmappedSku,
    Reason::UnknownProduct,
    Reason::RaggedRow,
    Reason::MalformedRecord,
    Reason::BadEncoding,
    Reason::ConflictingDuplicate,
];

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
    let reason = REASONS.iter().position(|r| *r == e.reason).unwrap_or(0) as u8;
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
}

impl ExceptionReader {
    pub fn open(path: &std::path::Path, source: &str) -> std::io::Result<Self> {
        Ok(ExceptionReader {
            input: std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?),
            source: source.to_string(),
        })
    }

    fn string(&mut self) -> std::io::Result<String> {
        use std::io::Read;
        let mut n = [0u8; 4];
        self.input.read_exact(&mut n)?;
        let mut b = vec![0u8; u32::from_le_bytes(n) as usize];
        self.input.read_exact(&mut b)?;
        String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// The next exception; `Ok(None)` at the end of the file.
    pub fn next_exception(&mut self) -> std::io::Result<Option<Exception>> {
        use std::io::{BufRead, Read};
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut line = [0u8; 8];
        self.input.read_exact(&mut line)?;
        let mut reason = [0u8; 1];
        self.input.read_exact(&mut reason)?;
        Ok(Some(Exception {
            source: self.source.clone(),
            line: u64::from_le_bytes(line),
            reason: REASONS[(reason[0] as usize).min(REASONS.len() - 1)],
            supplier_id: self.string()?,
            product_id: self.string()?,
            field: self.string()?,
            detail: self.string()?,
            raw: self.string()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        let rows: Vec<Exception> = REASONS
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
