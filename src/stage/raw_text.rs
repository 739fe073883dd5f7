//! A record's raw text, found again after staging: the exceptions of the
//! rows the latest-row rules reject quote it, and accepted rows keep no
//! copy of their text.

use super::read::{self, Cells, Visitor};
use super::rows::Span;
use crate::error::Problem;
use crate::model::Reason;
use crate::pipeline::Source;

/// The raw text of records found again after staging (the rows the
/// latest-row rules reject), keyed by line. Accepted rows keep no copy of
/// their text: plain UTF-8 CSV and NDJSON are read back at each record's
/// offset; other feeds are read once more and the wanted lines picked out.
pub fn raw_texts(
    source: &Source,
    path: &std::path::Path,
    wanted: &[(u64, Span)],
) -> std::collections::BTreeMap<u64, String> {
    use std::io::Read;
    let d = &source.dialect;
    let mut found = std::collections::BTreeMap::new();
    if wanted.is_empty() {
        return found;
    }
    let by_offset = matches!(
        d.format,
        crate::pipeline::Format::Csv | crate::pipeline::Format::Ndjson
    ) && !d.gzip
        && d.encoding == crate::pipeline::Encoding::Utf8
        && wanted.iter().all(|(_, s)| s.offset != u64::MAX);
    if by_offset && let Ok(mut f) = std::fs::File::open(path) {
        let mut bom = [0u8; 3];
        let skip = match f.read_exact(&mut bom) {
            Ok(()) if bom == *b"\xEF\xBB\xBF" => 3,
            _ => 0,
        };
        // One positioned read per row (no seek): large feeds can have
        // hundreds of thousands of such rows. Not a memory map: mapped
        // pages would count as the run's own memory.
        let mut buf = Vec::new();
        for (line, span) in wanted {
            buf.resize(span.len as usize, 0);
            if read_at(&f, &mut buf, skip + span.offset).is_ok() {
                found.insert(*line, String::from_utf8_lossy(&buf).into_owned());
            }
        }
        return found;
    }
    let mut lines: Vec<u64> = wanted.iter().map(|(l, _)| *l).collect();
    lines.sort_unstable();
    lines.dedup();
    let parquet = d.format == crate::pipeline::Format::Parquet && !d.gzip;
    if parquet && let Ok(file) = read::ParquetFile::open(path) {
        parquet_texts(&file, &lines, &mut found);
        return found;
    }
    let mut pick = Pick::new(&lines, 1, &mut found);
    let _ = read::read_file(read::Input::Copy(path), d, &mut pick);
    found
}

/// Keeps the raw text of the wanted lines (sorted) of records visited in
/// line order.
struct Pick<'a> {
    lines: &'a [u64],
    /// The first wanted line not yet passed.
    next: usize,
    found: &'a mut std::collections::BTreeMap<u64, String>,
}

impl<'a> Pick<'a> {
    /// For records from line `first` on.
    fn new(
        lines: &'a [u64],
        first: u64,
        found: &'a mut std::collections::BTreeMap<u64, String>,
    ) -> Self {
        Pick {
            lines,
            next: lines.partition_point(|&l| l < first),
            found,
        }
    }

    fn wants(&mut self, line: u64) -> bool {
        // Lines come in order: a cursor, not a search per record.
        while self.lines.get(self.next).is_some_and(|&l| l < line) {
            self.next += 1;
        }
        self.lines.get(self.next) == Some(&line)
    }
}

impl Visitor for Pick<'_> {
    fn header(&mut self, _: &[String]) -> Result<(), Problem> {
        Ok(())
    }
    fn record(&mut self, line: u64, raw: &str, _: &dyn Cells) {
        if self.wants(line) {
            self.found.insert(line, raw.to_string());
        }
    }
    fn record_made(&mut self, line: u64, raw: &dyn Fn() -> String, _: &dyn Cells) {
        if self.wants(line) {
            self.found.insert(line, raw());
        }
    }
    fn broken(&mut self, _: u64, _: &str, _: Reason, _: String) {}
}

/// A Parquet feed's wanted lines (sorted), read again on every core: only
/// the row groups that hold one of them are read, each by whichever
/// thread is free, and of those only the wanted rows decoded.
fn parquet_texts(
    file: &read::ParquetFile,
    lines: &[u64],
    found: &mut std::collections::BTreeMap<u64, String>,
) {
    let groups: Vec<(usize, u64)> = file
        .group_lines()
        .into_iter()
        .enumerate()
        .filter(|(_, range)| {
            let i = lines.partition_point(|&l| l < range.start);
            lines.get(i).is_some_and(|l| range.contains(l))
        })
        .map(|(g, range)| (g, range.start))
        .collect();
    let threads = crate::sys::workers();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = (0..threads.min(groups.len()))
            .map(|_| {
                let (groups, next) = (&groups, &next);
                scope.spawn(move || {
                    let mut part = std::collections::BTreeMap::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(g, line)) = groups.get(i) else {
                            break;
                        };
                        let _ = file.pick(g, line, lines, &mut part);
                    }
                    part
                })
            })
            .collect();
        for job in jobs {
            if let Ok(part) = job.join() {
                found.extend(part);
            }
        }
    });
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_at(mut f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}
