//! The distribution spec's error bodies: `{"errors": [{"code", "message", "detail"}]}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct RegistryError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `WWW-Authenticate` challenge for 401 answers.
    pub challenge: Option<String>,
}

macro_rules! codes {
    ($($fn_name:ident => $code:literal, $status:ident;)*) => {
        impl RegistryError {
            $(
                pub fn $fn_name(message: impl Into<String>) -> Self {
                    RegistryError { status: StatusCode::$status, code: $code, message: message.into(), challenge: None }
                }
            )*
        }
    };
}

codes! {
    blob_unknown => "BLOB_UNKNOWN", NOT_FOUND;
    blob_upload_invalid => "BLOB_UPLOAD_INVALID", BAD_REQUEST;
    blob_upload_unknown => "BLOB_UPLOAD_UNKNOWN", NOT_FOUND;
    digest_invalid => "DIGEST_INVALID", BAD_REQUEST;
    manifest_blob_unknown => "MANIFEST_BLOB_UNKNOWN", BAD_REQUEST;
    manifest_invalid => "MANIFEST_INVALID", BAD_REQUEST;
    manifest_unknown => "MANIFEST_UNKNOWN", NOT_FOUND;
    name_invalid => "NAME_INVALID", BAD_REQUEST;
    name_unknown => "NAME_UNKNOWN", NOT_FOUND;
    size_invalid => "SIZE_INVALID", BAD_REQUEST;
    denied => "DENIED", FORBIDDEN;
    // A build's unique or primary tag would move or go.
    immutable => "DENIED", CONFLICT;
    unsupported => "UNSUPPORTED", METHOD_NOT_ALLOWED;
    too_many_requests => "TOO_MANY_REQUESTS", TOO_MANY_REQUESTS;
    // Distribution's code for a bad `n` (the spec names none).
    pagination_number_invalid => "PAGINATION_NUMBER_INVALID", BAD_REQUEST;
}

impl RegistryError {
    pub fn unauthorized(message: impl Into<String>, challenge: String) -> Self {
        RegistryError {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHORIZED",
            message: message.into(),
            challenge: Some(challenge),
        }
    }

    /// A chunk that does not start where the upload ends.
    pub fn range_not_satisfiable(message: impl Into<String>) -> Self {
        RegistryError {
            status: StatusCode::RANGE_NOT_SATISFIABLE,
            code: "BLOB_UPLOAD_INVALID",
            message: message.into(),
            challenge: None,
        }
    }

    /// The registry's disk is full: 507, saying so, so a client (and the
    /// user behind it) knows to free space rather than retry blindly.
    pub fn storage_full() -> Self {
        tracing::error!("registry: no space left on device");
        RegistryError {
            status: StatusCode::INSUFFICIENT_STORAGE,
            code: "UNKNOWN",
            message: "no space left on device: the registry's storage is full; free space (`slipway registry gc`, old builds) and retry".into(),
            challenge: None,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("registry internal error: {e}");
        RegistryError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "UNKNOWN",
            message: "internal error; see the server log".into(),
            challenge: None,
        }
    }
}

impl From<slipway_store::StoreError> for RegistryError {
    fn from(e: slipway_store::StoreError) -> Self {
        if e.is_storage_full() {
            RegistryError::storage_full()
        } else if let slipway_store::StoreError::Immutable(m) = e {
            RegistryError::immutable(m)
        } else if let slipway_store::StoreError::NotFound(m) = e {
            RegistryError::manifest_unknown(m)
        } else {
            RegistryError::internal(e)
        }
    }
}

impl From<crate::storage::StorageError> for RegistryError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError as S;
        match e {
            S::UploadUnknown(id) => {
                RegistryError::blob_upload_unknown(format!("upload {id} does not exist"))
            }
            e @ S::DigestMismatch { .. } => RegistryError::digest_invalid(e.to_string()),
            e @ S::OutOfOrder { .. } => RegistryError::range_not_satisfiable(e.to_string()),
            e @ S::Stream(_) => RegistryError::blob_upload_invalid(e.to_string()),
            e @ S::Inconsistent { .. } => RegistryError::blob_upload_invalid(e.to_string()),
            S::Io(e) if is_storage_full(&e) => RegistryError::storage_full(),
            e @ (S::Io(_) | S::Remote(_) | S::Config(_)) => RegistryError::internal(e),
        }
    }
}

/// Whether an I/O error means the disk is full (ENOSPC, or EDQUOT: a
/// quota is full space too, for this process).
pub fn is_storage_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc_enospc())
}

const fn libc_enospc() -> i32 {
    28
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{"code": self.code, "message": self.message, "detail": null}]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        resp
    }
}
