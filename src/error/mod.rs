//! The one error type of siap, and the exit codes a scheduler sees.
//!
//! Every variant carries the nouns an on-call engineer needs (source id,
//! path or redacted URL, line, column). Messages are rendered in one place:
//! lowercase, names in backticks, no trailing period.

mod problem;

use std::path::PathBuf;

pub use problem::{Action, End, Failure, Header, Http, Problem};

/// Exit statuses, documented in the README. Never 99: Airflow reads it as
/// "skipped".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every source staged, tables published.
    Success = 0,
    /// Something unexpected (a bug, or an I/O error outside any source).
    Internal = 1,
    /// Command-line usage error (clap's own code).
    Usage = 2,
    /// The pipeline file is invalid; nothing was run.
    Config = 3,
    /// One or more sources failed; nothing was published.
    SourcesFailed = 4,
    /// Another run holds the lock on the output folder.
    Locked = 5,
    /// The tables could not be written; the previous outputs are untouched.
    Publish = 6,
    /// Published, but a quality gate at level `warn` failed.
    Warnings = 7,
    /// `siap diff --exit-code`: some product changed status or flags.
    Changed = 8,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// A problem found in a pipeline file, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid pipeline file:\n{}", render_problems(.0))]
    Config(Vec<ConfigProblem>),

    #[error("cannot read pipeline file `{path}`: {source}")]
    PipelineRead {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("source `{source_id}` ({location}): {problem}")]
    Source {
        source_id: String,
        location: String,
        problem: Box<Problem>,
    },

    #[error("{} source(s) failed; nothing was published", .0.len())]
    SourcesFailed(Vec<Error>),

    #[error("{0}")]
    Usage(String),

    #[error("output folder `{path}` is locked by another run ({holder})")]
    Locked { path: PathBuf, holder: String },

    #[error("cannot publish to `{path}`: {message}")]
    Publish { path: PathBuf, message: String },

    #[error("{context}: {source}")]
    Polars {
        context: String,
        source: polars::error::PolarsError,
    },

    #[error("{0}")]
    Internal(String),
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::PipelineRead { .. } => ExitCode::Config,
            Error::Source { .. } | Error::SourcesFailed(_) => ExitCode::SourcesFailed,
            Error::Usage(_) => ExitCode::Usage,
            Error::Locked { .. } => ExitCode::Locked,
            Error::Publish { .. } => ExitCode::Publish,
            Error::Polars { .. } | Error::Internal(_) => ExitCode::Internal,
        }
    }

    /// A source that cannot be used, named by its id and location (see
    /// `Source::fails`).
    pub fn source(id: &str, location: String, problem: Problem) -> Self {
        Error::Source {
            source_id: id.to_string(),
            location,
            problem: Box::new(problem),
        }
    }

    pub fn polars(context: impl Into<String>) -> impl FnOnce(polars::error::PolarsError) -> Self {
        let context = context.into();
        move |source| Error::Polars { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a panic said, as text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `f`; a panic in it (or in the threads it waits for) becomes the
/// error `on_panic` makes of its message, so no failure of a worker ever
/// ends the process with a panic's exit code.
pub fn catch_panic<T>(
    f: impl FnOnce() -> Result<T>,
    on_panic: impl FnOnce(String) -> Error,
) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(on_panic(panic_message(payload.as_ref()))),
    }
}

/// Text with its control characters escaped (`\n`, `\u{1b}`...), for
/// showing text that came from outside (a feed's header, a cell) in a
/// message or a log line. With `keep_newlines`, line breaks stay: the
/// message's own structure (a list of problems) uses them.
pub fn escape_controls(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !text.chars().any(escaped) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Outside text shown in a message: control characters, line breaks too,
/// escaped.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, false)
}

/// A panic message that embeds an I/O error's debug form (`Couldn't write
/// to xml file: Os { code: 28, kind: StorageFull, message: "No space left
/// on device" }`) said the way an operator reads it: `No space left on
/// device (Couldn't write to xml file)`.
pub fn io_words(panic: &str) -> String {
    let Some(start) = panic.find("message: \"") else {
        return panic.to_string();
    };
    let rest = &panic[start + "message: \"".len()..];
    let words = rest.split('"').next().unwrap_or(rest);
    let before = panic[..start]
        .split(": Os {")
        .next()
        .unwrap_or("")
        .trim_end_matches([' ', ':', '{']);
    if before.is_empty() {
        words.to_string()
    } else {
        format!("{words} ({before})")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_words_read_like_an_error() {
        assert_eq!(
            super::io_words(
                "Couldn't write to xml file: Os { code: 28, kind: StorageFull, message: \"No space left on device\" }"
            ),
            "No space left on device (Couldn't write to xml file)"
        );
        assert_eq!(
            super::io_words("index out of bounds"),
            "index out of bounds"
        );
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(super::shown("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(super::escape_controls("a\nb\r", true), "a\nb\\r");
        assert_eq!(super::shown("Gudang é"), "Gudang é");
    }
}
