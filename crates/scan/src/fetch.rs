//! Reading a URL the scanners were configured with: `file://` or an
//! absolute path, `http://` or `https://` (TLS verified with the
//! platform's roots), decompressed by its name (`.gz`, `.zst`).

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

/// The most an index may decompress to (Debian's main `Packages` is about
/// 60 MB; Fedora's primary.xml about 200 MB).
const MAX_BYTES: u64 = 1 << 30;

fn client() -> Result<&'static reqwest::blocking::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::blocking::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // One process-wide crypto provider; an error means one is
            // already installed, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .connect_timeout(Duration::from_secs(15))
                .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// What a URL answered.
pub enum Fetched {
    Found(Vec<u8>),
    /// 404, or no such file.
    NotFound,
}

/// Read `url` (with `accept` as the HTTP Accept header), undecoded.
pub fn get(url: &str, accept: &str) -> Result<Fetched, String> {
    if let Some(path) = local_path(url) {
        return match std::fs::File::open(path) {
            Ok(f) => {
                let mut buf = Vec::new();
                f.take(MAX_BYTES)
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("{url}: {e}"))?;
                Ok(Fetched::Found(buf))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Fetched::NotFound),
            Err(e) => Err(format!("{url}: {e}")),
        };
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "{url}: not a URL Slipway can read (http://, https://, file:// or an absolute path)"
        ));
    }
    let response = client()?
        .get(url)
        .header("Accept", accept)
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
        return Ok(Fetched::NotFound);
    }
    if !status.is_success() {
        return Err(format!("{url}: the server answered {status}"));
    }
    let mut buf = Vec::new();
    response
        .take(MAX_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(Fetched::Found(buf))
}

/// `url`'s content, decompressed by its name; a missing one is an error.
pub fn read(url: &str) -> Result<Vec<u8>, String> {
    match get(url, "*/*")? {
        Fetched::Found(bytes) => decompress(url, bytes),
        Fetched::NotFound => Err(format!("{url}: not found")),
    }
}

fn local_path(url: &str) -> Option<&str> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(p);
    }
    url.starts_with('/').then_some(url)
}

/// Decompress by file name: `.gz`, `.zst`; anything else is taken as is.
pub fn decompress(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let name = name.split(['?', '#']).next().unwrap_or(name);
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(MAX_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: not valid gzip: {e}"))?;
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(&bytes[..])
            .map_err(|e| format!("{name}: {e}"))?
            .take(MAX_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: not valid zstd: {e}"))?;
    } else if name.ends_with(".xz") || name.ends_with(".bz2") {
        return Err(format!(
            "{name}: xz and bzip2 indices are not read; point Slipway at the .gz or uncompressed index"
        ));
    } else {
        return Ok(bytes);
    }
    Ok(out)
}

/// `base` joined with `rel` (`base` may end with `/` or not).
pub fn join(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}
