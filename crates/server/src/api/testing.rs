//! A build's test stage: what came of it, and the JUnit file it wrote.

use super::{Caller, load};
use crate::Services;
use crate::error::ApiError;
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use slipway_core::build::test_stage::TestResult;
use std::sync::Arc;

pub(super) fn routes(t: &mut super::Table) {
    use super::table::Access::Token;
    use axum::routing::get;
    use slipway_core::access::Permission::Read;
    t.add(Token(Read), "/builds/{id}/test", &["GET"], get(result));
    t.add(Token(Read), "/builds/{id}/test/junit", &["GET"], get(junit));
}

/// `GET /builds/{id}/test`.
async fn result(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    let build = load(&s, &caller, &id, slipway_core::access::Permission::Read).await?;
    s.store
        .test_result(build.id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "build {} ran no test stage (its slipway.yaml has no test:, or it ended before)",
                build.id
            ))
        })
}

/// `GET /builds/{id}/test/junit`: the JUnit XML file, as the test wrote it.
async fn junit(
    State(s): State<Arc<Services>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let build = load(&s, &caller, &id, slipway_core::access::Permission::Read).await?;
    match s.store.test_junit(build.id).await? {
        Some(xml) => Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response()),
        None => Err(ApiError::not_found(format!(
            "build {}'s test wrote no JUnit file ($TEST_RESULTS/junit.xml)",
            build.id
        ))),
    }
}
