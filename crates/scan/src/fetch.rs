//! Reading a URL the scanners were configured with: `file://` or an
//! absolute path, `http://` or `https://` (TLS verified against the
//! Mozilla root set), decompressed by its name (`.gz`, `.zst`).

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

/// The most an index may decompress to (Debian's main `Packages` is about
/// 60 MB; Fedora's primary.xml about 200 MB).
const MAX_BYTES: u64 = 1 << 30;

pub(crate) fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .timeout_connect(Some(Duration::from_secs(15)))
            .http_status_as_error(false)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
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
    let mut response = agent()
        .get(url)
        .header("Accept", accept)
        .call()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    if status == 404 || status == 410 {
        return Ok(Fetched::NotFound);
    }
    if !(200..300).contains(&status) {
        return Err(format!("{url}: the server answered {}", response.status()));
    }
    let buf = response
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_vec()
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
