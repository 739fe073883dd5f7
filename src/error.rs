//! The one error type of siap, and the exit codes a scheduler sees.
//!
//! Every variant carries the nouns an on-call engineer needs (source id,
//! path or redacted URL, line, column). Messages are rendered in one place:
//! lowercase, names in backticks, no trailing period.

use std::path::PathBuf;

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

    #[error("source `{source_id}` ({location}): {message}")]
    Source {
        source_id: String,
        location: String,
        message: String,
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

    pub fn source(id: &str, location: &str, message: impl Into<String>) -> Self {
        Error::Source {
            source_id: id.to_string(),
            location: location.to_string(),
            message: message.into(),
        }
    }

    pub fn polars(context: impl Into<String>) -> impl FnOnce(polars::error::PolarsError) -> Self {
        let context = context.into();
        move |source| Error::Polars { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
