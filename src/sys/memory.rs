//! The allocator's freed memory, handed back to the system at the points
//! where a run changes phase.
//!
//! The binary allocates with mimalloc, which keeps freed memory for a
//! while (up to seconds for large blocks) before it returns it, in case it
//! is needed again. Between phases it is not: the staging buffers are
//! done with before the rules start, the rules' buffers before their
//! results are merged, and so on. Kept, they would add to the peak of the
//! next phase (about 150 MB at size L, against a 1 GiB budget).

/// Returns the memory freed so far to the system, now. A few milliseconds;
/// called a handful of times per run. Harmless when mimalloc is not the
/// global allocator (as in the library's unit tests).
pub fn release_freed() {
    crate::sys::direct::release_spare();
    // SAFETY: `mi_collect` takes no pointers and may be called from any
    // thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// The process's peak resident memory so far, in MiB (Linux; `None`
/// elsewhere). The kernel's high-water mark of this program's own memory
/// since it started (a parent's memory before `exec` is not in it).
pub fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}
