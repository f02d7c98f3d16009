//! A platform image's docker-archive, gzipped the same way every time, for
//! `upload_mode: archive`.

use std::path::Path;

/// Gzip `from` into `to` (no name or time in the header, so the same tar
/// gives the same bytes), hashing what is written.
pub fn gzip_file(from: &Path, to: &Path) -> std::io::Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    struct Hashing<W> {
        inner: W,
        hash: Sha256,
        size: u64,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hash.update(&buf[..n]);
            self.size += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let out = Hashing {
        inner: std::io::BufWriter::new(std::fs::File::create(to)?),
        hash: Sha256::new(),
        size: 0,
    };
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(out, flate2::Compression::default());
    std::io::copy(&mut std::fs::File::open(from)?, &mut gz)?;
    let mut out = gz.finish()?;
    out.flush()?;
    out.inner
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok((out.size, hex::encode(out.hash.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_same_tar_gives_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("image.tar");
        std::fs::write(
            &tar,
            b"not really a tar, but bytes all the same".repeat(1000),
        )
        .unwrap();
        let (a, b) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
        let first = gzip_file(&tar, &a).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = gzip_file(&tar, &b).unwrap();
        assert_eq!(first, second);
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
        assert_eq!(
            first,
            (bytes.len() as u64, hex::encode(Sha256::digest(&bytes)))
        );
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut back)
            .unwrap();
        assert_eq!(back, std::fs::read(&tar).unwrap());
    }
}
