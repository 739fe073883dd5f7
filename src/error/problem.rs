//! Why a source cannot be used at all: what fetch and staging report, as
//! data (the path, the line, the limit, the URL, the attempt), and how
//! each is said, here and nowhere else.
//!
//! Records that fail a check are not problems: they are exceptions, rows of
//! the exceptions table. A problem fails its whole source.

use std::fmt;
use std::path::PathBuf;

/// What was being done to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reading a local source.
    Read,
    /// Reading the raw copy in the run folder.
    ReadCopy,
    /// Writing a file (a raw copy, a staged copy, the rejected rows).
    Write,
    /// Copying a local source into the run folder.
    Copy,
    /// Linking an earlier run's copy into this run.
    Reuse,
}

/// Why a source cannot be used.
#[derive(Debug)]
pub enum Problem {
    /// A file cannot be read, written or copied.
    Io {
        action: Action,
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file siap writes, with what it was writing (`the staged
    /// partitions`, `the rejected rows`).
    Write {
        what: &'static str,
        error: std::io::Error,
    },
    /// A local source that is not a regular file.
    NotAFile { path: PathBuf, kind: &'static str },
    /// More than the source's `max_bytes` (or a fixed cap): `what` is
    /// the file, the body, the decompressed body, a workbook part.
    TooLarge {
        what: String,
        size: Option<u64>,
        limit: u64,
    },
    /// Zero bytes, before or after decompression.
    Empty { after_gzip: bool },
    /// Not text in the declared encoding.
    Encoding(String),
    /// The header row.
    Header(Header),
    /// The bytes are not a file of the declared format: what the reader
    /// found wrong, and where when it says.
    Format { detail: String, line: Option<u64> },
    /// A quoted CSV field opened on `line` and never closed: the rest of
    /// the file would be one record longer than `cap`.
    UnclosedQuote {
        line: u64,
        bytes: u64,
        lines: u64,
        cap: u64,
    },
    /// An HTTP transfer failed.
    Http(Http),
    /// Bad rows in a reference table: the first ones, and how many.
    BadRows { listed: Vec<String>, total: usize },
    /// A `--supplier` rerun with no earlier copy of this source.
    NoCopyToReuse { date: chrono::NaiveDate },
    /// A dated or patterned location found no single file for the date.
    Pattern { message: String },
    /// An SFTP or bucket transfer failed: the redacted URL, the attempts
    /// made, why.
    Transfer {
        url: String,
        attempt: u32,
        message: String,
    },
    /// An API source's page could not be used (no records array, not
    /// JSON, a paging loop, the page cap).
    Api { page: u32, message: String },
    /// A quality gate at level `error` failed.
    Gate { gate: String, message: String },
    /// siap could not do its own part (start a task, a temporary file).
    Internal(String),
}

/// What is wrong with a header.
#[derive(Debug)]
pub enum Header {
    /// No header row at all.
    Missing,
    /// Fewer lines than `skip_lines` before it.
    TooFewLines(usize),
    /// Longer than `max_record_bytes`.
    TooLong(u64),
    /// Wider than siap reads.
    TooWide { columns: usize, limit: usize },
    /// A column named twice.
    Twice(String),
    /// Required columns not found (each as it was looked for, and the
    /// canonical column it stands for), and what the header has.
    Lacks {
        wanted: Vec<(String, &'static str)>,
        header: Vec<String>,
    },
}

/// A failed HTTP transfer: the URL (credentials masked), the last
/// attempt, what went wrong in it, and why no attempt followed.
#[derive(Debug)]
pub struct Http {
    pub url: String,
    pub attempt: u32,
    pub failure: Failure,
    pub end: End,
}

/// What went wrong in one HTTP attempt.
#[derive(Debug)]
pub enum Failure {
    /// The request itself (connection, timeout, redirect): reqwest's
    /// words, without the URL.
    Request(String),
    /// An answer that is not a success.
    Status(String),
    /// 304 to a request that was not conditional.
    UnaskedNotModified,
    /// An HTML page where a feed was expected.
    Html {
        content_type: Option<String>,
        expected: &'static str,
    },
    /// A body larger than `max_bytes` (its declared size, if known).
    TooLarge { size: Option<u64>, limit: u64 },
    /// Shorter than its Content-Length.
    Short { got: u64, expected: u64 },
    /// Nothing for `secs` seconds after `after` bytes.
    Stalled { secs: u64, after: u64 },
    /// The body broke off after `after` bytes.
    BrokeOff { detail: String, after: u64 },
    /// The body could not be written to the raw copy.
    Write { path: PathBuf, error: String },
}

/// Why a failed transfer was not tried again.
#[derive(Debug)]
pub enum End {
    /// Not worth another try (a 4xx, an HTML page...).
    NotRetried,
    /// Every attempt used.
    GaveUp,
    /// The total timeout ran out during the attempt.
    TimedOut { total_secs: u64 },
    /// Waiting to retry would overrun the total timeout.
    WouldOverrun { wait_secs: f64, total_secs: u64 },
    /// The URL or the client could not be made: no attempt.
    Unusable,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "cannot read",
            Action::ReadCopy => "cannot read the raw copy",
            Action::Write => "cannot write",
            Action::Copy => "cannot copy",
            Action::Reuse => "cannot reuse the copy",
        })
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io {
                action,
                path,
                error,
            } => write!(f, "{action} `{}`: {error}", path.display()),
            Problem::Write { what, error } => write!(f, "cannot write {what}: {error}"),
            Problem::NotAFile { path, kind } => write!(
                f,
                "`{}` is {kind}, not a regular file: only files can be sources",
                path.display()
            ),
            Problem::TooLarge {
                what,
                size: Some(n),
                limit,
            } => write!(f, "{what} is {n} bytes, more than max_bytes = {limit}"),
            Problem::TooLarge {
                what,
                size: None,
                limit,
            } => write!(f, "{what} is more than max_bytes = {limit} bytes"),
            Problem::Empty { after_gzip: false } => f.write_str("the file is empty (0 bytes)"),
            Problem::Empty { after_gzip: true } => {
                f.write_str("the file is empty (0 bytes after gzip)")
            }
            Problem::Encoding(what) => f.write_str(what),
            Problem::Header(h) => h.fmt(f),
            Problem::Format { detail, line: None } => f.write_str(detail),
            Problem::Format {
                detail,
                line: Some(l),
            } => write!(f, "line {l}: {detail}"),
            Problem::UnclosedQuote {
                line,
                bytes,
                lines,
                cap,
            } => write!(
                f,
                "line {line}: a quoted field opened in this record is never closed: the rest of the file ({bytes} bytes, {} lines) would be one record, more than max_record_bytes = {cap}",
                lines + 1
            ),
            Problem::Http(h) => h.fmt(f),
            Problem::BadRows { listed, total } => {
                write!(f, "{total} bad row(s):")?;
                for row in listed {
                    write!(f, "\n    {}", super::shown(row))?;
                }
                if *total > listed.len() {
                    write!(f, "\n    and {} more", total - listed.len())?;
                }
                Ok(())
            }
            Problem::Pattern { message } => write!(f, "{message}"),
            Problem::Api { page, message } => write!(f, "page {page}: {message}"),
            Problem::Transfer {
                url,
                attempt,
                message,
            } => write!(f, "`{url}` (attempt {attempt}): {message}"),
            Problem::NoCopyToReuse { date } => write!(
                f,
                "no earlier run on or before {date} has a copy to reuse; run without --supplier first"
            ),
            Problem::Gate { gate, message } => write!(f, "gate `{gate}` failed: {message}"),
            Problem::Internal(what) => f.write_str(what),
        }
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |n: &str| format!("`{}`", super::shown(n));
        match self {
            Header::Missing => f.write_str("the file has no header row"),
            Header::TooFewLines(n) => write!(f, "the file has fewer than {n} lines to skip"),
            Header::TooLong(cap) => write!(
                f,
                "the header row is longer than max_record_bytes = {cap} bytes"
            ),
            Header::TooWide { columns, limit } => {
                write!(
                    f,
                    "the header row spans {columns} columns, more than {limit}"
                )
            }
            Header::Twice(n) => write!(f, "the header names column {} twice", shown(n)),
            Header::Lacks { wanted, header } => {
                let wanted: Vec<String> = wanted
                    .iter()
                    .map(|(name, canonical)| {
                        if name == canonical {
                            format!("`{name}`")
                        } else {
                            format!("`{name}` ({canonical})")
                        }
                    })
                    .collect();
                write!(
                    f,
                    "missing required column {}; the header has: {}",
                    wanted.join(", "),
                    header
                        .iter()
                        .map(|n| shown(n))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Request(what) => f.write_str(what),
            Failure::Status(status) => write!(f, "answered {status}"),
            Failure::UnaskedNotModified => {
                f.write_str("answered 304 Not Modified to a request that was not conditional")
            }
            Failure::Html {
                content_type: Some(ct),
                expected,
            } => write!(
                f,
                "the server sent an HTML page (Content-Type `{ct}`), not the {expected} feed expected"
            ),
            Failure::Html {
                content_type: None,
                expected,
            } => write!(
                f,
                "the server sent an HTML page, not the {expected} feed expected"
            ),
            Failure::TooLarge {
                size: Some(n),
                limit,
            } => write!(f, "the body is {n} bytes, more than max_bytes = {limit}"),
            Failure::TooLarge { size: None, limit } => {
                write!(f, "the body is more than max_bytes = {limit} bytes")
            }
            Failure::Short { got, expected } => write!(
                f,
                "the body ended after {got} of {expected} bytes (Content-Length)"
            ),
            Failure::Stalled { secs, after } => write!(
                f,
                "the body stalled: nothing for {secs}s after {after} bytes"
            ),
            Failure::BrokeOff { detail, after } => write!(f, "{detail} after {after} bytes"),
            Failure::Write { path, error } => {
                write!(f, "cannot write `{}`: {error}", path.display())
            }
        }
    }
}

impl fmt::Display for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (url, n, why) = (&self.url, self.attempt, &self.failure);
        match &self.end {
            End::NotRetried => write!(f, "GET {url}: {why} (attempt {n}, not retried)"),
            End::GaveUp => write!(f, "GET {url}: {why} (gave up after {n} attempts)"),
            End::TimedOut { total_secs } => write!(
                f,
                "GET {url}: the total timeout of {total_secs}s ran out during attempt {n}"
            ),
            End::WouldOverrun {
                wait_secs,
                total_secs,
            } => write!(
                f,
                "GET {url}: {why}; waiting {wait_secs:.1}s to retry would overrun the total timeout of {total_secs}s (attempt {n})"
            ),
            End::Unusable => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for Problem {}

impl Problem {
    /// Reading or writing `path` failed.
    pub fn io(
        action: Action,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Problem + '_ {
        move |error| Problem::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    }

    /// A reader's words for a file that is not in its format.
    pub fn format(detail: impl Into<String>) -> Problem {
        Problem::Format {
            detail: detail.into(),
            line: None,
        }
    }

    /// A read that failed: the problem it carries (a cap, a corrupt
    /// stream...), or else the read error itself on `path`.
    pub fn from_read(e: std::io::Error, action: Action, path: &std::path::Path) -> Problem {
        if e.get_ref().is_some_and(|i| i.is::<Problem>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Problem>().expect("checked above");
        }
        Problem::Io {
            action,
            path: path.to_path_buf(),
            error: e,
        }
    }

    /// As an I/O error, to travel through a reader.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::other(self)
    }
}
