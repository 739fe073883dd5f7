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
    struct Pick<'a> {
        lines: std::collections::BTreeSet<u64>,
        found: &'a mut std::collections::BTreeMap<u64, String>,
    }
    impl Visitor for Pick<'_> {
        fn header(&mut self, _: &[String]) -> Result<(), Problem> {
            Ok(())
        }
        fn record(&mut self, line: u64, raw: &str, _: &dyn Cells) {
            if self.lines.contains(&line) {
                self.found.insert(line, raw.to_string());
            }
        }
        fn record_made(&mut self, line: u64, raw: &dyn Fn() -> String, _: &dyn Cells) {
            if self.lines.contains(&line) {
                self.found.insert(line, raw());
            }
        }
        fn broken(&mut self, _: u64, _: &str, _: Reason, _: String) {}
    }
    let lines: std::collections::BTreeSet<u64> = wanted.iter().map(|(l, _)| *l).collect();
    let parquet = d.format == crate::pipeline::Format::Parquet && !d.gzip;
    if parquet && let Ok(file) = read::ParquetFile::open(path) {
        // Its row groups on every core: the whole file is decoded again.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        std::thread::scope(|scope| {
            let jobs: Vec<_> = file
                .split(threads)
                .into_iter()
                .map(|(groups, line)| {
                    let (file, lines) = (&file, &lines);
                    scope.spawn(move || {
                        let mut part = std::collections::BTreeMap::new();
                        let mut pick = Pick {
                            lines: lines.clone(),
                            found: &mut part,
                        };
                        let _ = file.visit(groups, line, &mut pick);
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
        return found;
    }
    let mut pick = Pick {
        lines,
        found: &mut found,
    };
    let _ = read::read_file(read::Input::Copy(path), d, &mut pick);
    found
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
