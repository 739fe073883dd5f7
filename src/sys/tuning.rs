//! Sizes a run works in: rows per batch, key partitions. Read once, from
//! the environment (tests set small values to drive many batches and
//! partitions through small inputs), and handed to the phases.

/// How a run cuts its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Rows per batch when a large table is written (CSV and Parquet).
    pub batch_rows: usize,
    /// Rows per batch of staged rows (a row group of a staged copy):
    /// larger, since each row group carries its own dictionaries of SKU
    /// and product strings, which at scale hold nearly one value per row
    /// of a small group.
    pub staged_batch_rows: usize,
    /// Key partitions for the latest-row rules; `None`: by input size.
    pub partitions: Option<usize>,
    /// Bytes of a feed parsed as one job when a feed is staged on several
    /// threads (whole records: a chunk ends where a record does).
    pub chunk_bytes: usize,
    /// Bytes of a large NDJSON feed's first lines its header is guessed
    /// from when it is staged on several threads (a feed no larger has
    /// its whole header read first).
    pub guess_bytes: u64,
    /// Write the shipments table's CSV through polars frames, as any
    /// other table's, instead of straight from its rows: the reference
    /// the fast path is tested against.
    pub csv_from_frames: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            batch_rows: 32_768,
            staged_batch_rows: 131_072,
            partitions: None,
            chunk_bytes: 1 << 20,
            guess_bytes: 8 << 20,
            csv_from_frames: false,
        }
    }
}

impl Tuning {
    /// The defaults, with `SIAP_BATCH_ROWS` (both batch sizes),
    /// `SIAP_PARTITIONS` (1 to 4096), `SIAP_CHUNK_BYTES` and
    /// `SIAP_GUESS_BYTES` (at least 1), and `SIAP_CSV_FROM_FRAMES` (`1`)
    /// where set.
    pub fn from_env() -> Self {
        let number = |var: &str| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
        };
        let mut t = Tuning::default();
        if let Some(n) = number("SIAP_BATCH_ROWS") {
            t.batch_rows = n.max(1);
            t.staged_batch_rows = n.max(1);
        }
        t.partitions = number("SIAP_PARTITIONS").map(|n| n.clamp(1, 4096));
        if let Some(n) = number("SIAP_CHUNK_BYTES") {
            t.chunk_bytes = n.max(1);
        }
        if let Some(n) = number("SIAP_GUESS_BYTES") {
            t.guess_bytes = n.max(1) as u64;
        }
        t.csv_from_frames = number("SIAP_CSV_FROM_FRAMES") == Some(1);
        t
    }
}
