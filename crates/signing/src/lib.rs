//! The server's signing key and the checks made with its public half.
//!
//! ECDSA over P-256 with SHA-256, signatures in ASN.1 DER: what cosign
//! makes by default and what containers/image's `sigstoreSigned`
//! requirement, cosign and DSSE verifiers (securesystemslib) accept. The
//! private key is a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`, as
//! `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`
//! writes), made on first start with mode 0600; the public key is shown
//! as a PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), the form
//! `policy.json`'s `keyPath` and `cosign verify --key` read.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use std::path::Path;

/// The DER SubjectPublicKeyInfo of a P-256 key, up to its point:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the signing key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the signing key {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the signing key {path} is not a PKCS#8 PEM P-256 key ({why}); make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out FILE`"
    )]
    Invalid { path: String, why: String },
    #[error(
        "the signing key {path} can be read by other users (mode {mode:o}); `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
    #[error("not a P-256 public key in PEM (-----BEGIN PUBLIC KEY-----): {0}")]
    InvalidPublic(String),
    #[error("signing failed")]
    Sign,
}

/// The private key. Its bytes are never shown (`Debug` prints the key id).
pub struct SigningKey {
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public().keyid())
    }
}

impl SigningKey {
    /// Read the key at `path`, or make one there if there is none (first
    /// start). A key readable by others is refused.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, KeyError> {
        match std::fs::metadata(path) {
            Ok(_) => Self::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(KeyError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Read the key at `path` (PKCS#8 PEM, mode 0600 or stricter).
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed { path: shown, mode });
            }
        }
        let text = std::fs::read(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_pem(&text).map_err(|why| KeyError::Invalid { path: shown, why })
    }

    /// A PKCS#8 PEM private key.
    pub fn from_pem(text: &[u8]) -> Result<SigningKey, String> {
        let block = pem::parse(text).map_err(|e| e.to_string())?;
        if block.tag() != "PRIVATE KEY" {
            return Err(format!("a {:?} block, not PRIVATE KEY", block.tag()));
        }
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            block.contents(),
            &SystemRandom::new(),
        )
        .map(|pair| SigningKey { pair })
        .map_err(|e| format!("not a P-256 key: {e}"))
    }

    fn create(path: &Path) -> Result<SigningKey, KeyError> {
        let shown = path.display().to_string();
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| KeyError::Sign)?;
        let text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        write_private(path, text.as_bytes()).map_err(|source| KeyError::Write {
            path: shown.clone(),
            source,
        })?;
        Self::from_pem(text.as_bytes()).map_err(|why| KeyError::Invalid { path: shown, why })
    }

    /// Sign `message`: ECDSA P-256 SHA-256, ASN.1 DER.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| KeyError::Sign)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            point: self.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// Write `data` to `path` with mode 0600 from the start (never readable
/// by others, not even for a moment), failing if the file exists.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// A P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The uncompressed point (65 bytes).
    point: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.keyid())
    }
}

impl PublicKey {
    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.point);
        der
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der()))
    }

    /// Read a PEM SubjectPublicKeyInfo of a P-256 key.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::InvalidPublic(e.to_string()))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError::InvalidPublic(format!(
                "a {:?} block",
                block.tag()
            )));
        }
        let der = block.contents();
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 4 => Ok(PublicKey {
                point: point.to_vec(),
            }),
            _ => Err(KeyError::InvalidPublic(
                "not an uncompressed P-256 key".into(),
            )),
        }
    }

    /// The key's id: the SHA-256 of its DER SubjectPublicKeyInfo, hex.
    pub fn keyid(&self) -> String {
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &self.spki_der(),
        ))
    }

    /// Whether `signature` (ASN.1 DER) is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_made_on_first_start_is_private_and_the_same_on_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key");
        let key = SigningKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        let again = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(key.public(), again.public());
        // Debug never shows the key.
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public().keyid()) && !shown.contains("BEGIN"));
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key");
        SigningKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SigningKey::load(&path).unwrap_err();
        assert!(matches!(e, KeyError::Exposed { .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }

    #[test]
    fn signatures_verify_with_the_public_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(&dir.path().join("k")).unwrap();
        let other = SigningKey::load_or_create(&dir.path().join("o")).unwrap();
        let sig = key.sign(b"payload").unwrap();
        let public = PublicKey::from_pem(key.public().to_pem().as_bytes()).unwrap();
        assert_eq!(public, key.public());
        assert!(public.verify(b"payload", &sig));
        assert!(!public.verify(b"payload!", &sig));
        assert!(!other.public().verify(b"payload", &sig));
        assert_eq!(public.keyid().len(), 64);
        assert_ne!(public.keyid(), other.public().keyid());
    }

    #[test]
    fn what_is_not_a_key_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_private(
            &path,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = SigningKey::load(&path).unwrap_err().to_string();
        assert!(e.contains("openssl genpkey"), "{e}");
        assert!(PublicKey::from_pem(b"nonsense").is_err());
        let private = std::fs::read(&path).unwrap();
        assert!(PublicKey::from_pem(&private).is_err());
    }
}
