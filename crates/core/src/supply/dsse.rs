//! DSSE (Dead Simple Signing Envelope, v1.0): a payload, its type, and
//! signatures over the pre-authentication encoding of both, so a
//! signature can never be taken for one over a payload of another type.

use serde::{Deserialize, Serialize};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The media type of a DSSE envelope as an OCI artifact.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// `PAE(type, body)`: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`,
/// lengths in ASCII decimal bytes. What is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, standard base64.
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Which key made it (Slipway: the SHA-256 of the public key's DER).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The signature, standard base64.
    pub sig: String,
}

/// What is wrong with an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope is not DSSE JSON: {0}")]
    NotJson(String),
    #[error("the envelope's {0} is not base64")]
    NotBase64(&'static str),
    #[error("the envelope carries {found:?}, not {expected:?}")]
    WrongType { expected: String, found: String },
    #[error("the envelope is not signed")]
    Unsigned,
}

impl Envelope {
    /// Wrap `payload`, signed by `sign` (given the PAE bytes, it returns
    /// the raw signature) under `keyid`.
    pub fn sign<E>(
        payload_type: &str,
        payload: &[u8],
        keyid: &str,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Envelope, E> {
        let sig = sign(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload: base64_encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                keyid: keyid.to_string(),
                sig: base64_encode(&sig),
            }],
        })
    }

    pub fn parse(json: &[u8]) -> Result<Envelope, EnvelopeError> {
        serde_json::from_slice(json).map_err(|e| EnvelopeError::NotJson(e.to_string()))
    }

    /// The payload, if the envelope carries `payload_type`, with each
    /// signature's raw bytes and the PAE they must cover: for the caller
    /// to verify (at least one must, with the expected key).
    pub fn open(&self, payload_type: &str) -> Result<Opened, EnvelopeError> {
        if self.payload_type != payload_type {
            return Err(EnvelopeError::WrongType {
                expected: payload_type.to_string(),
                found: self.payload_type.clone(),
            });
        }
        if self.signatures.is_empty() {
            return Err(EnvelopeError::Unsigned);
        }
        let payload = base64_decode(&self.payload).ok_or(EnvelopeError::NotBase64("payload"))?;
        let signatures = self
            .signatures
            .iter()
            .map(|s| {
                base64_decode(&s.sig)
                    .map(|sig| (s.keyid.clone(), sig))
                    .ok_or(EnvelopeError::NotBase64("signature"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Opened {
            signed: pae(payload_type, &payload),
            payload,
            signatures,
        })
    }
}

/// An envelope's contents, not yet verified.
#[derive(Debug, Clone)]
pub struct Opened {
    pub payload: Vec<u8>,
    /// The bytes every signature must cover.
    pub signed: Vec<u8>,
    /// `(keyid, raw signature)`.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Standard base64, padded or not; `None` if it is not base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specs_encoding() {
        // The DSSE spec's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn base64_round_trips_and_refuses_what_is_not() {
        for data in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0xff, 0, 0xfe],
        ] {
            let e = base64_encode(data);
            assert_eq!(base64_decode(&e).as_deref(), Some(data), "{e}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert_eq!(base64_decode("Zm9vYg").as_deref(), Some(&b"foob"[..]));
        assert_eq!(base64_decode("Zm9v!g=="), None);
        assert_eq!(base64_decode("Z"), None);
    }

    #[test]
    fn an_envelope_opens_only_as_its_own_type_and_signed() {
        let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", "k1", |m| {
            Ok::<_, ()>(m.iter().rev().copied().collect())
        })
        .unwrap();
        let json = serde_json::to_vec(&env).unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.contains("\"payloadType\":\"application/vnd.in-toto+json\""),
            "{text}"
        );
        let back = Envelope::parse(&json).unwrap();
        let opened = back.open(IN_TOTO_PAYLOAD_TYPE).unwrap();
        assert_eq!(opened.payload, b"{}");
        assert_eq!(opened.signed, pae(IN_TOTO_PAYLOAD_TYPE, b"{}"));
        let expected: Vec<u8> = opened.signed.iter().rev().copied().collect();
        assert_eq!(opened.signatures, vec![("k1".to_string(), expected)]);
        assert!(matches!(
            back.open("text/plain"),
            Err(EnvelopeError::WrongType { .. })
        ));
        let unsigned = Envelope {
            signatures: vec![],
            ..back.clone()
        };
        assert_eq!(
            unsigned.open(IN_TOTO_PAYLOAD_TYPE).unwrap_err(),
            EnvelopeError::Unsigned
        );
        assert!(Envelope::parse(b"[]").is_err());
    }
}
