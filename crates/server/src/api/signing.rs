//! The supply chain's API: `GET /api/v1/signing-key`, the public key
//! images and provenance are signed with, for anyone (what `policy.json`'s
//! `keyPath`, `cosign verify --key` and `slipway verify` check against;
//! public by nature: it lets nobody sign); a build's provenance; and
//! rebuilds that check a build is reproducible.

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

/// `GET /api/v1/builds/{id}/provenance`: the build's provenance as kept
/// with it: the DSSE envelope, the statement it carries, and whether its
/// signature verifies with this server's key now (false after a key
/// rotation, for builds signed before).
pub(super) async fn provenance(
    State(s): State<Arc<Services>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, crate::error::ApiError> {
    use slipway_core::supply::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
    let build = super::load(&s, &caller, &raw, slipway_core::access::Permission::Read).await?;
    let Some(text) = s.store.provenance(build.id).await? else {
        return Err(crate::error::ApiError::not_found(format!(
            "build {} has no provenance: it is made when a build's image is published",
            build.id
        )));
    };
    let envelope = Envelope::parse(text.as_bytes())
        .map_err(|e| crate::error::ApiError::internal(format!("the stored provenance: {e}")))?;
    let opened = envelope
        .open(IN_TOTO_PAYLOAD_TYPE)
        .map_err(|e| crate::error::ApiError::internal(format!("the stored provenance: {e}")))?;
    let public = s.signing.public();
    let verified = opened
        .signatures
        .iter()
        .any(|(_, sig)| public.verify(&opened.signed, sig));
    let statement: serde_json::Value = serde_json::from_slice(&opened.payload)
        .map_err(|e| crate::error::ApiError::internal(format!("the stored statement: {e}")))?;
    Ok(Json(serde_json::json!({
        "build": build.id,
        "key_id": envelope.signatures.first().map(|s| s.keyid.clone()),
        "verified_with_current_key": verified,
        "statement": statement,
        "envelope": envelope,
    })))
}

/// `POST /api/v1/builds/{id}/reproduce`: queue a rebuild of the complete
/// build's inputs that checks its images come out identical (201 with the
/// rebuild). Needs the right to build in the build's project; 409 when
/// the build cannot be rebuilt (not complete, itself a rebuild, or built
/// before commit times were recorded).
pub(super) async fn reproduce(
    State(s): State<Arc<Services>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use crate::steps::reproduce::RebuildError;
    use axum::response::IntoResponse;
    let original = super::load(&s, &caller, &raw, slipway_core::access::Permission::Build).await?;
    crate::steps::projects::check_build_rate(&s, original.spec.project_name()).await?;
    match crate::steps::reproduce::queue(&s, &original).await {
        Ok(rebuild) => {
            tracing::info!(
                "build {}: rebuild {} queued to verify it",
                original.id,
                rebuild.id
            );
            Ok((axum::http::StatusCode::CREATED, Json(rebuild.redacted())).into_response())
        }
        Err(RebuildError::Refused(why)) => Err(crate::error::ApiError::conflict(why)),
        Err(RebuildError::Store(e)) => Err(crate::error::ApiError::internal(e)),
    }
}

/// `GET /api/v1/builds/{id}/reproductions`: what rebuilds found about the
/// build, newest first.
pub(super) async fn reproductions(
    State(s): State<Arc<Services>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<Json<Vec<slipway_core::supply::reproduce::Reproduction>>, crate::error::ApiError> {
    let build = super::load(&s, &caller, &raw, slipway_core::access::Permission::Read).await?;
    let mut out = Vec::new();
    for (_, detail) in s.store.reproductions(build.id).await? {
        out.push(
            serde_json::from_str(&detail).map_err(|e| {
                crate::error::ApiError::internal(format!("a stored comparison: {e}"))
            })?,
        );
    }
    Ok(Json(out))
}
