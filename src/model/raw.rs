//! A source's bytes as fetch leaves them for staging.

use std::path::PathBuf;

/// A source's raw copy in the run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCopy {
    /// Where the copy is (or, for `tee_from`, will be once staged).
    pub path: PathBuf,
    /// A local file not copied yet: staging copies it to `path` as it
    /// reads it (one read for the copy, the hash and the rows).
    pub tee_from: Option<PathBuf>,
    /// Its size as fetched (for a file to tee, its size now).
    pub bytes: u64,
}
