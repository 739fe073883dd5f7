//! What every phase may use and none owns: the operating system and the
//! machine, behind small interfaces.
//!
//! - [`files`]: local files as sources (regular files only, capped) and
//!   the sha256 of what is read;
//! - [`direct`]: large write-once files past the page cache (`O_DIRECT`,
//!   a writing thread per file);
//! - [`scan`]: a text's structural bytes, 64 at a time (SIMD);
//! - [`queue`]: jobs shared among a few plain threads, largest first;
//! - [`pool`]: a few plain threads running the jobs handed to them;
//! - [`parquet_pages`]: Parquet pages encoded from numbers, dictionaries
//!   keyed by numbers renumbered per row group;
//! - [`memory`]: freed memory handed back between phases, peak memory;
//! - [`progress`]: progress bars on a terminal and the log writer;
//! - [`tuning`]: rows per batch and key partitions, read once.
//!
//! Nothing here knows about feeds, rules or tables.

pub mod direct;
pub mod files;
pub mod memory;
pub mod parquet_pages;
pub mod pool;
pub mod progress;
pub mod queue;
pub mod scan;
pub mod tuning;

/// Worker threads for staging and the rules: one per core, or
/// `SIAP_THREADS` (from 1 to 256) where set.
pub fn workers() -> usize {
    if let Some(n) = std::env::var("SIAP_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return n.clamp(1, 256);
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Asks the CPU to bring `v` into the cache without waiting for it.
#[inline(always)]
pub fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing and cannot fault.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (v as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// An integer type every value of which is an `i64` (not UInt64, whose
/// values may not be).
pub fn fits_i64(dtype: &polars::prelude::DataType) -> bool {
    use polars::prelude::DataType::*;
    matches!(
        dtype,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32
    )
}
