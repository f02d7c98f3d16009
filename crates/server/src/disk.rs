//! The data dir's file system: how much room is left, and whether an I/O
//! error means it is full.

use std::path::Path;

/// Bytes available to this (unprivileged-or-not) process on the file
/// system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to memory
    // for one statvfs, which the call fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_space_of_a_real_dir() {
        let d = tempfile::tempdir().unwrap();
        assert!(super::free_bytes(d.path()).unwrap() > 0);
        assert!(super::free_bytes(&d.path().join("missing")).is_err());
    }
}
