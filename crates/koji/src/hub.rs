//! A Koji hub over XML-RPC: what a content generator needs and nothing
//! more. Every call is one `POST` of a `<methodCall>` (`text/xml`, with a
//! `Content-Length`); the reply is a `<methodResponse>` or a `<fault>`.
//! After `login`, every request carries `Koji-Session-Id`,
//! `Koji-Session-Key` and `Koji-Session-Callnum` (0, 1, 2, … — the hub
//! refuses a number it has seen, so a failed call is resent with a new one).
//! `dxr` does the XML-RPC values (with Koji's `<nil/>` and `<i8>`); `ureq`
//! the HTTP, synchronously (callers run it on a blocking thread).

use base64::Engine;
use dxr::{FaultResponse, MethodCall, MethodResponse, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bytes per `uploadFile` chunk (what koji's own client uses); the base64
/// of it keeps the XML body well under the hub's 4 MiB request limit.
const CHUNK: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KojiError {
    /// The hub answered with a fault: its code and text (1000 GenericError,
    /// 1002 AuthError, 1004 ActionNotAllowed, …).
    #[error("the Koji hub refused {method}: {message} (fault {code})")]
    Fault {
        method: String,
        code: i32,
        message: String,
    },
    #[error("cannot reach the Koji hub at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("the Koji hub answered {method} with something that is not XML-RPC: {detail}")]
    Protocol { method: String, detail: String },
    #[error("the Koji hub did not take the upload of {file}: {detail}")]
    Upload { file: String, detail: String },
}

impl KojiError {
    /// Whether the hub could not be reached (worth retrying later), as
    /// opposed to a hub that answered no.
    pub fn is_transport(&self) -> bool {
        matches!(self, KojiError::Transport { .. })
    }

    /// The fault code, when the hub answered with a fault.
    pub fn fault_code(&self) -> Option<i32> {
        match self {
            KojiError::Fault { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = KojiError> = std::result::Result<T, E>;

/// A hub, by its XML-RPC URL (`https://koji.example.com/kojihub`).
pub struct Hub {
    url: String,
    agent: ureq::Agent,
}

impl Hub {
    /// A hub over plain HTTP or HTTPS with the system's CA certificates.
    pub fn new(url: &str, timeout: Duration) -> Hub {
        Hub::build(url, timeout, ureq::tls::TlsConfig::default())
    }

    /// A hub whose certificate is checked against `ca_pem` (instead of the
    /// system's CAs), and to which Slipway shows `client` (certificate
    /// chain PEM, private key PEM) for [`Hub::ssl_login`].
    pub fn with_tls(
        url: &str,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
        client: Option<(&[u8], &[u8])>,
    ) -> Result<Hub, String> {
        use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder();
        if let Some(pem) = ca_pem {
            let certs = pem_certificates(pem, "the CA file")?;
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let Some((chain, key)) = client {
            let certs = pem_certificates(chain, "the certificate file")?;
            // Never echo the key file's contents in the error.
            let key = PrivateKey::from_pem(key)
                .map_err(|_| "the key file holds no PEM private key".to_string())?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&certs, key)));
        }
        Ok(Hub::build(url, timeout, tls.build()))
    }

    fn build(url: &str, timeout: Duration, tls: ureq::tls::TlsConfig) -> Hub {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(15)))
            .http_status_as_error(false)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        Hub {
            url: url.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn post(
        &self,
        method: &str,
        params: Vec<Value>,
        session: Option<(&Session, u64)>,
    ) -> Result<Value> {
        self.post_to(&self.url, method, params, session)
    }

    fn post_to(
        &self,
        url: &str,
        method: &str,
        params: Vec<Value>,
        session: Option<(&Session, u64)>,
    ) -> Result<Value> {
        let body = MethodCall {
            name: method.into(),
            params,
        }
        .to_xml()
        .map_err(|e| KojiError::Protocol {
            method: method.to_string(),
            detail: format!("cannot encode the call: {e}"),
        })?;
        let body = format!("<?xml version=\"1.0\"?>\n{body}");
        let mut req = self.agent.post(url).header("Content-Type", "text/xml");
        if let Some((s, callnum)) = session {
            req = req
                .header("Koji-Session-Id", &s.id.to_string())
                .header("Koji-Session-Key", &s.key)
                .header("Koji-Session-Callnum", &callnum.to_string());
        }
        let transport = |detail: String| KojiError::Transport {
            url: self.url.clone(),
            detail,
        };
        let mut resp = req
            .send(body.as_bytes())
            .map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        if status != 200 {
            return Err(transport(format!(
                "HTTP {status}: {}",
                text.lines().next().unwrap_or("").trim()
            )));
        }
        parse_response(method, &text)
    }

    /// A call without a session (`getKojiVersion`, `getBuild`, …).
    pub fn call(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.post(method, params, None)
    }

    /// Log in with a password; the session's calls carry its headers.
    pub fn login(&self, user: &str, password: &str) -> Result<Session<'_>> {
        let v = self.call("login", vec![s(user), s(password)])?;
        self.session("login", &v)
    }

    /// Log in with the client certificate given to [`Hub::with_tls`]
    /// (`sslLogin` at `<hub>/ssllogin`; the hub takes the user from the
    /// certificate's subject).
    pub fn ssl_login(&self) -> Result<Session<'_>> {
        let url = format!("{}/ssllogin", self.url);
        let v = self.post_to(&url, "sslLogin", Vec::new(), None)?;
        self.session("sslLogin", &v)
    }

    fn session(&self, method: &str, v: &Value) -> Result<Session<'_>> {
        let fields = as_struct(method, v)?;
        let id = fields
            .get("session-id")
            .and_then(as_i64)
            .ok_or_else(|| protocol(method, "no session-id in the answer"))?;
        let key = fields
            .get("session-key")
            .and_then(as_str)
            .ok_or_else(|| protocol(method, "no session-key in the answer"))?
            .to_string();
        Ok(Session {
            hub: self,
            id,
            key,
            callnum: AtomicU64::new(0),
        })
    }
}

/// A logged-in session.
pub struct Session<'h> {
    hub: &'h Hub,
    id: i64,
    key: String,
    callnum: AtomicU64,
}

/// The digest a hub checks uploads with (and an import's outputs carry):
/// SHA-256, or MD5 for older hubs that take nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Checksum {
    #[default]
    Sha256,
    Md5,
}

impl Checksum {
    /// Koji's name for it (`checksum_type`, `uploadFile`'s verify type).
    pub fn name(self) -> &'static str {
        match self {
            Checksum::Sha256 => "sha256",
            Checksum::Md5 => "md5",
        }
    }

    /// The hex digest of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Checksum::Sha256 => hex::encode(Sha256::digest(data)),
            Checksum::Md5 => hex::encode(md5::Md5::digest(data)),
        }
    }

    /// A digest of data given in parts.
    pub fn hasher(self) -> Hasher {
        match self {
            Checksum::Sha256 => Hasher::Sha256(Sha256::new()),
            Checksum::Md5 => Hasher::Md5(md5::Md5::new()),
        }
    }

    fn value(self, data: &[u8]) -> Value {
        Value::Array(vec![s(self.name()), s(&self.hex(data))])
    }
}

/// A [`Checksum`] being computed.
pub enum Hasher {
    Sha256(Sha256),
    Md5(md5::Md5),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Md5(h) => hex::encode(h.finalize()),
        }
    }
}

/// Fill `buf` from `r` as far as it goes: fewer bytes only at the end.
fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A reserved NVR (`CGInitBuild`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub build_id: i64,
    pub token: String,
}

/// A build as the hub describes it (the fields Slipway reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KojiBuild {
    pub id: i64,
    pub nvr: String,
    /// 0 BUILDING, 1 COMPLETE, 2 DELETED, 3 FAILED, 4 CANCELED.
    pub state: i64,
}

impl Session<'_> {
    /// Call `method` in this session.
    pub fn call(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        let n = self.callnum.fetch_add(1, Ordering::Relaxed);
        self.hub.post(method, params, Some((self, n)))
    }

    /// Upload `data` as `name` into the upload directory `dir` (relative to
    /// the hub's work directory), in chunks, each and the whole checked by
    /// the hub against its `sum`.
    pub fn upload(&self, dir: &str, name: &str, data: &[u8], sum: Checksum) -> Result<()> {
        self.upload_from(dir, name, data, sum).map(|_| ())
    }

    /// [`Session::upload`] from a reader (a docker-archive on disk), one
    /// chunk in memory at a time; the number of bytes sent.
    pub fn upload_from(
        &self,
        dir: &str,
        name: &str,
        mut data: impl std::io::Read,
        sum: Checksum,
    ) -> Result<u64> {
        let failed = |detail: String| KojiError::Upload {
            file: format!("{dir}/{name}"),
            detail,
        };
        let mut whole = sum.hasher();
        let mut offset = 0u64;
        let mut chunk = vec![0u8; CHUNK];
        // An empty file is one empty chunk.
        loop {
            let n = read_full(&mut data, &mut chunk)
                .map_err(|e| failed(format!("cannot read it: {e}")))?;
            if n == 0 && offset > 0 {
                // The size was a multiple of the chunk.
                break;
            }
            let part = &chunk[..n];
            whole.update(part);
            let ok = self.call(
                "uploadFile",
                vec![
                    s(dir),
                    s(name),
                    number(n as u64),
                    sum.value(part),
                    number(offset),
                    // base64 as a string: the hub refuses a <base64> value.
                    s(&base64::engine::general_purpose::STANDARD.encode(part)),
                ],
            )?;
            if ok != Value::Boolean(true) {
                return Err(failed(format!(
                    "the chunk at offset {offset} did not verify"
                )));
            }
            offset += n as u64;
            if n < CHUNK {
                break;
            }
        }
        let ok = self.call(
            "uploadFile",
            vec![
                s(dir),
                s(name),
                number(offset),
                Value::Array(vec![s(sum.name()), s(&whole.finish())]),
                Value::Integer(-1),
                s(""),
            ],
        )?;
        if ok != Value::Boolean(true) {
            return Err(failed(format!(
                "the whole file ({offset} bytes) did not verify"
            )));
        }
        Ok(offset)
    }

    /// Reserve `name-version-release` for content generator `cg`.
    pub fn cg_init_build(
        &self,
        cg: &str,
        name: &str,
        version: &str,
        release: &str,
    ) -> Result<Reservation> {
        let data = Value::Struct(BTreeMap::from([
            ("name".to_string(), s(name)),
            ("version".to_string(), s(version)),
            ("release".to_string(), s(release)),
        ]));
        let v = self.call("CGInitBuild", vec![s(cg), data])?;
        let f = as_struct("CGInitBuild", &v)?;
        Ok(Reservation {
            build_id: f
                .get("build_id")
                .and_then(as_i64)
                .ok_or_else(|| protocol("CGInitBuild", "no build_id in the answer"))?,
            token: f
                .get("token")
                .and_then(as_str)
                .ok_or_else(|| protocol("CGInitBuild", "no token in the answer"))?
                .to_string(),
        })
    }

    /// Import the build `metadata` (the JSON document, sent as a string)
    /// whose files were uploaded into `dir`; with the reservation's token
    /// when its NVR was reserved.
    pub fn cg_import(&self, metadata: &str, dir: &str, token: Option<&str>) -> Result<KojiBuild> {
        let mut params = vec![s(metadata), s(dir)];
        if let Some(t) = token {
            params.push(s(t));
        }
        let v = self.call("CGImport", params)?;
        build_of("CGImport", &v)
    }

    /// Give a reservation back: the build becomes FAILED (3, the default)
    /// or CANCELED (4), and its NVR can be reserved again.
    pub fn cg_refund_build(
        &self,
        cg: &str,
        build_id: i64,
        token: &str,
        state: Option<i32>,
    ) -> Result<()> {
        let mut params = vec![s(cg), Value::Long(build_id), s(token)];
        if let Some(st) = state {
            params.push(Value::Integer(st));
        }
        self.call("CGRefundBuild", params)?;
        Ok(())
    }

    /// The release after the latest of `name` `version` in Koji (building,
    /// complete or deleted builds count; failed and canceled ones do not),
    /// plus `incr - 1` (`"1"` when there is none; `"3.el9"` after
    /// `"2.el9"`).
    pub fn get_next_release(&self, name: &str, version: &str, incr: u32) -> Result<String> {
        let info = Value::Struct(BTreeMap::from([
            ("name".to_string(), s(name)),
            ("version".to_string(), s(version)),
        ]));
        let v = self.call(
            "getNextRelease",
            vec![info, Value::Integer(i32::try_from(incr).unwrap_or(1))],
        )?;
        as_str(&v)
            .map(str::to_string)
            .ok_or_else(|| protocol("getNextRelease", "the answer is not a string"))
    }

    /// The build named `nvr`, if the hub has one.
    pub fn get_build(&self, nvr: &str) -> Result<Option<KojiBuild>> {
        match self.call("getBuild", vec![s(nvr)])? {
            Value::Nil => Ok(None),
            v => build_of("getBuild", &v).map(Some),
        }
    }

    /// End the session (best effort).
    pub fn logout(self) {
        let _ = self.call("logout", Vec::new());
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// An integer the way Koji takes it: `<int>` when it fits, else a decimal
/// string (what koji's own client does for sizes of 2 GiB and more).
fn number(n: u64) -> Value {
    match i32::try_from(n) {
        Ok(i) => Value::Integer(i),
        Err(_) => Value::String(n.to_string()),
    }
}

/// The certificates in a PEM file (`what` names it in errors).
fn pem_certificates(
    pem: &[u8],
    what: &str,
) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let certs = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no certificate"));
    }
    Ok(certs)
}

fn protocol(method: &str, detail: &str) -> KojiError {
    KojiError::Protocol {
        method: method.to_string(),
        detail: detail.to_string(),
    }
}

fn as_struct<'v>(method: &str, v: &'v Value) -> Result<&'v BTreeMap<String, Value>> {
    match v {
        Value::Struct(f) => Ok(f),
        other => Err(protocol(
            method,
            &format!("expected a struct, got {other:?}"),
        )),
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(i64::from(*i)),
        Value::Long(i) => Some(*i),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn build_of(method: &str, v: &Value) -> Result<KojiBuild> {
    let f = as_struct(method, v)?;
    Ok(KojiBuild {
        id: f
            .get("id")
            .or_else(|| f.get("build_id"))
            .and_then(as_i64)
            .ok_or_else(|| protocol(method, "no build id in the answer"))?,
        nvr: f
            .get("nvr")
            .and_then(as_str)
            .unwrap_or_default()
            .to_string(),
        state: f.get("state").and_then(as_i64).unwrap_or(-1),
    })
}

/// A `<methodResponse>`: its value, or its fault as an error.
fn parse_response(method: &str, text: &str) -> Result<Value> {
    if let Ok(r) = MethodResponse::from_xml(text) {
        return Ok(r.value);
    }
    match FaultResponse::from_xml(text) {
        Ok(f) => Err(KojiError::Fault {
            method: method.to_string(),
            code: f.fault.code(),
            message: f.fault.string().to_string(),
        }),
        Err(_) => Err(protocol(
            method,
            &text.chars().take(200).collect::<String>(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_faults_are_read() {
        let ok = r#"<?xml version='1.0'?>
<methodResponse><params><param><value><struct>
<member><name>session-id</name><value><int>11</int></value></member>
<member><name>session-key</name><value><string>11-abc</string></value></member>
<member><name>header-auth</name><value><boolean>1</boolean></value></member>
<member><name>epoch</name><value><nil/></value></member>
<member><name>big</name><value><i8>8589934592</i8></value></member>
</struct></value></param></params></methodResponse>"#;
        let v = parse_response("login", ok).unwrap();
        let f = as_struct("login", &v).unwrap();
        assert_eq!(f.get("session-id").and_then(as_i64), Some(11));
        assert_eq!(f.get("big").and_then(as_i64), Some(8_589_934_592));
        assert_eq!(f.get("epoch"), Some(&Value::Nil));
        let fault = r#"<?xml version='1.0'?>
<methodResponse><fault><value><struct>
<member><name>faultCode</name><value><int>1000</int></value></member>
<member><name>faultString</name><value><string>Build already exists: a-1-1 (id=3)</string></value></member>
</struct></value></fault></methodResponse>"#;
        let e = parse_response("CGImport", fault).unwrap_err();
        assert_eq!(e.fault_code(), Some(1000));
        assert!(e.to_string().contains("Build already exists"), "{e}");
        assert!(parse_response("x", "<html>oops</html>").is_err());
    }

    #[test]
    fn big_numbers_go_as_strings() {
        assert_eq!(number(5), Value::Integer(5));
        assert_eq!(number(3_000_000_000), Value::String("3000000000".into()));
    }
}
