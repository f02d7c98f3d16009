//! `GET /api/v1/signing-key`: the public key images and provenance are
//! signed with, for anyone (what `policy.json`'s `keyPath`, `cosign verify
//! --key` and `slipway verify` check against). Public by nature: it lets
//! nobody sign.

use crate::Services;
use axum::Json;
use axum::extract::State;
use slipway_core::api::SigningKeyInfo;
use std::sync::Arc;

pub(super) async fn get(State(s): State<Arc<Services>>) -> Json<SigningKeyInfo> {
    let public = s.signing.public();
    Json(SigningKeyInfo {
        key_id: public.keyid(),
        algorithm: SigningKeyInfo::ALGORITHM.to_string(),
        public_key: public.to_pem(),
    })
}
