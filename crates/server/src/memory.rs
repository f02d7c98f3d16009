//! Giving freed memory back to the system.
//!
//! Work that allocates a lot at once (a scan's file table, an apply of a
//! thousand configs, a loop over every config) does it on whichever tokio or
//! blocking thread runs it, and glibc keeps each thread arena's freed
//! memory for that arena: without a trim the idle server's RSS grew by tens
//! of megabytes after each such burst and stayed there.

/// Release the memory free in every malloc arena.
pub(crate) fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
