//! The placeholder archive an image output names: a gzipped tar with one
//! `README` (`slipway_core::koji::placeholder_readme`). Byte for byte the
//! same for the same text — fixed owner, mode and time, no gzip header
//! time or name — so the size and checksum recorded in the metadata when
//! the build publishes still match when the file is uploaded later.

use sha2::{Digest, Sha256};

/// The archive holding `readme` as `README`.
pub fn archive(readme: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_path("README").ok();
    header.set_size(readme.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    // Appending to a Vec cannot fail.
    let _ = tar.append(&header, readme.as_bytes());
    let body = tar.into_inner().unwrap_or_default();
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let _ = std::io::Write::write_all(&mut gz, &body);
    gz.finish().unwrap_or_default()
}

/// Size and SHA-256 (hex) of `bytes`.
pub fn size_and_sha256(bytes: &[u8]) -> (u64, String) {
    (bytes.len() as u64, hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_reproducible_and_readable() {
        let a = archive("pull it from reg/app@sha256:00\n");
        assert_eq!(a, archive("pull it from reg/app@sha256:00\n"));
        assert_ne!(a, archive("something else\n"));
        let gz = flate2::read::GzDecoder::new(&a[..]);
        let mut t = tar::Archive::new(gz);
        let mut entries = t.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("README"));
        let mut text = String::new();
        std::io::Read::read_to_string(&mut e, &mut text).unwrap();
        assert_eq!(text, "pull it from reg/app@sha256:00\n");
        assert!(entries.next().is_none());
        let (size, sum) = size_and_sha256(&a);
        assert_eq!(size, a.len() as u64);
        assert_eq!(sum.len(), 64);
    }
}
