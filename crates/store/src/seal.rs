//! Secrets at rest. The database columns that can hold a secret — a
//! build's spec (a git URL's password), an image config (webhook and
//! notification secrets, a git URL's password) and a notification's target
//! (a webhook secret), and a Koji reservation's token — are stored sealed: ChaCha20-Poly1305 with a key the
//! server keeps outside the database (`<data-dir>/secret-key`, mode 0600,
//! or a file of the admin's choosing), so a copy of the database file alone
//! reveals nothing. The column's name is the associated data, so a sealed
//! value cannot be moved to another column.
//!
//! `ring` does the cryptography: it is already in the build (rustls uses
//! it), audited, and has exactly this AEAD; no second crypto library.
//!
//! A value without the prefix is plain JSON written before sealing existed;
//! it is read as it is, and [`crate::SqliteStore::seal_existing`] rewrites
//! such rows sealed.

use crate::{Result, StoreError};
use base64::Engine;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "sealed:v1:";

/// The columns whose values are sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    BuildSpec,
    ConfigSpec,
    DeliveryTarget,
    KojiToken,
    Secret,
    RegistryPassword,
}

impl Column {
    fn aad(self) -> &'static [u8] {
        match self {
            Column::BuildSpec => b"builds.spec",
            Column::ConfigSpec => b"image_configs.spec",
            Column::DeliveryTarget => b"notifications.target",
            Column::KojiToken => b"koji_imports.reservation_token",
            Column::Secret => b"secrets.value",
            Column::RegistryPassword => b"registry_logins.password",
        }
    }
}

/// Seals and opens column values; without a key (tests, tools) values are
/// stored as they are.
pub(crate) struct Sealer {
    key: Option<LessSafeKey>,
    rng: SystemRandom,
}

impl Sealer {
    pub(crate) fn new(key: Option<&[u8; 32]>) -> Result<Sealer> {
        let key = key
            .map(|k| {
                UnboundKey::new(&CHACHA20_POLY1305, k)
                    .map(LessSafeKey::new)
                    .map_err(|_| StoreError::Corrupt("the sealing key is unusable".into()))
            })
            .transpose()?;
        Ok(Sealer {
            key,
            rng: SystemRandom::new(),
        })
    }

    pub(crate) fn seals(&self) -> bool {
        self.key.is_some()
    }

    /// The stored form of `plain` in `column`.
    pub(crate) fn seal(&self, column: Column, plain: String) -> Result<String> {
        let Some(key) = &self.key else {
            return Ok(plain);
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Corrupt("no randomness for a nonce".into()))?;
        let mut data = plain.into_bytes();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(column.aad()),
            &mut data,
        )
        .map_err(|_| StoreError::Corrupt("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// The plain value of what is stored in `column`.
    pub(crate) fn open(&self, column: Column, stored: &str) -> Result<String> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let key = self.key.as_ref().ok_or_else(|| {
            StoreError::Corrupt(
                "a sealed value, and no key to open it: start the server with its secret-key file"
                    .into(),
            )
        })?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| StoreError::Corrupt("a sealed value is not base64".into()))?;
        if raw.len() < NONCE_LEN {
            return Err(StoreError::Corrupt("a sealed value is truncated".into()));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| StoreError::Corrupt("a sealed value has a bad nonce".into()))?;
        let mut data = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(column.aad()), &mut data)
            .map_err(|_| {
                StoreError::Corrupt(
                    "a sealed value does not open with this key (a different secret-key file?)"
                        .into(),
                )
            })?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Corrupt("a sealed value is not text".into()))
    }
}

/// Whether a stored value is sealed.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_column() {
        let s = Sealer::new(Some(&[7u8; 32])).unwrap();
        let sealed = s
            .seal(Column::BuildSpec, "{\"pw\":\"hunter2\"}".into())
            .unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("hunter2"));
        assert_eq!(
            s.open(Column::BuildSpec, &sealed).unwrap(),
            "{\"pw\":\"hunter2\"}"
        );
        // Two seals of one value differ (fresh nonces).
        assert_ne!(
            sealed,
            s.seal(Column::BuildSpec, "{\"pw\":\"hunter2\"}".into())
                .unwrap()
        );
        assert!(s.open(Column::ConfigSpec, &sealed).is_err());
        let other = Sealer::new(Some(&[8u8; 32])).unwrap();
        assert!(other.open(Column::BuildSpec, &sealed).is_err());
        let none = Sealer::new(None).unwrap();
        assert!(none.open(Column::BuildSpec, &sealed).is_err());
        // Plain legacy values read as they are.
        assert_eq!(s.open(Column::BuildSpec, "{}").unwrap(), "{}");
        assert_eq!(none.seal(Column::BuildSpec, "{}".into()).unwrap(), "{}");
    }
}
