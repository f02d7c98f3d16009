//! Blobs and upload sessions (monolithic, chunked, cross-repository mount).

use super::*;
use crate::storage::BlobBody;

/// `Range: bytes=start-end` / `bytes=start-` against a blob of `size` bytes.
pub(super) fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (s, e) = spec.split_once('-')?;
    if s.is_empty() {
        // Suffix: the last N bytes.
        let n: u64 = e.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = s.parse().ok()?;
    let end: u64 = if e.is_empty() {
        size.checked_sub(1)?
    } else {
        e.parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end && start < size).then_some((start, end))
}

pub(super) async fn get_blob(
    reg: &Registry,
    name: &str,
    d: &str,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response> {
    check_name(name)?;
    let digest = parse_digest(d)?;
    let unknown =
        || RegistryError::blob_unknown(format!("blob {digest} is not in repository {name}"));
    if !reg.meta.blob_visible(name, &digest.to_string()).await? {
        return Err(unknown());
    }
    let size = reg.blobs.stat(&digest).await?.ok_or_else(unknown)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match range {
        Some(v) => match parse_range(v, size) {
            Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
            None => {
                let mut r = RegistryError::range_not_satisfiable(format!(
                    "range {v:?} is outside the blob's {size} bytes"
                ))
                .into_response();
                header(&mut r, "content-range", &format!("bytes */{size}"));
                return Ok(r);
            }
        },
        None => (StatusCode::OK, 0, size),
    };
    let body = if head {
        Body::empty()
    } else {
        match reg.blobs.read(&digest, start, len).await? {
            BlobBody::Bytes(b) => Body::from(b),
            BlobBody::Stream(s) => Body::from_stream(s),
        }
    };
    let mut r = (status, body).into_response();
    header(&mut r, "content-type", "application/octet-stream");
    header(&mut r, "docker-content-digest", &digest.to_string());
    header(&mut r, "content-length", &len.to_string());
    header(&mut r, "accept-ranges", "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        header(
            &mut r,
            "content-range",
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(r)
}

pub(super) async fn delete_blob(reg: &Registry, name: &str, d: &str) -> Result<Response> {
    check_name(name)?;
    let digest = parse_digest(d)?;
    if reg.meta.unlink_blob(name, &digest.to_string()).await? {
        Ok(empty(StatusCode::ACCEPTED))
    } else {
        Err(RegistryError::blob_unknown(format!(
            "blob {digest} is not linked in repository {name}"
        )))
    }
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut r = empty(status);
    header(&mut r, "location", &upload_location(name, id));
    header(&mut r, "docker-upload-uuid", id);
    header(&mut r, "range", &format!("0-{}", size.saturating_sub(1)));
    r
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    let mut r = empty(StatusCode::CREATED);
    header(&mut r, "location", &format!("/v2/{name}/blobs/{digest}"));
    header(&mut r, "docker-content-digest", &digest.to_string());
    r
}

pub(super) async fn start_upload(
    reg: &Registry,
    name: &str,
    q: &Query,
    grants: &[Grant],
    body: Body,
) -> Result<Response> {
    check_name(name)?;
    // Cross-repository mount: from the named repository (which the
    // credentials must be allowed to pull), or (automatic mount, for
    // credentials that may pull everything) from wherever the blob is. Not
    // mountable: fall back to a normal upload, as the spec says.
    if let Some(mount) = q.get("mount") {
        let digest = parse_digest(mount)?;
        let allowed = match q.get("from") {
            Some(from) => {
                valid_name(from)
                    && allowed(grants, from, Action::Pull)
                    && reg.meta.blob_visible(from, &digest.to_string()).await?
            }
            None => {
                reg.automatic_mount
                    && allowed(grants, slipway_core::token::ANY_REPOSITORY, Action::Pull)
            }
        };
        if allowed {
            // Gated from the look to the link: GC must not delete the
            // blob in between (on this server or another).
            let gate = reg.meta.blob_gate(false).await?;
            let mounted = mount_blob(reg, name, &digest).await;
            gate.release().await;
            if mounted? {
                return Ok(blob_created(name, &digest));
            }
        }
    }
    let id = reg.blobs.start_upload().await?;
    if let Err(e) = reg.meta.upload_started(&id, name).await {
        // Not recorded (a full disk, say): no file without its session.
        reg.blobs.discard_upload(&id).await;
        return Err(e.into());
    }
    if let Some(d) = q.get("digest") {
        // Monolithic upload in one POST.
        let digest = parse_digest(d)?;
        return commit_upload(reg, name, &id, &digest, body).await;
    }
    Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
}

/// Link `digest` into `name` if the blob store has it; whether it did.
async fn mount_blob(reg: &Registry, name: &str, digest: &Digest) -> Result<bool> {
    let Some(size) = reg.blobs.stat(digest).await? else {
        return Ok(false);
    };
    reg.auth
        .check_storage(name, &digest.to_string(), size)
        .await
        .map_err(RegistryError::denied)?;
    reg.meta.link_blob(name, &digest.to_string(), size).await?;
    Ok(true)
}

/// The upload `id` must exist and belong to `name`.
async fn check_upload(reg: &Registry, name: &str, id: &str) -> Result<()> {
    check_name(name)?;
    let unknown = || {
        RegistryError::blob_upload_unknown(format!(
            "upload {id} does not exist in repository {name}"
        ))
    };
    if !valid_upload_id(id) {
        return Err(unknown());
    }
    match reg.meta.upload_repository(id).await? {
        Some(repo) if repo == name => Ok(()),
        _ => Err(unknown()),
    }
}

pub(super) async fn upload_status(reg: &Registry, name: &str, id: &str) -> Result<Response> {
    check_upload(reg, name, id).await?;
    let size = reg.blobs.upload_size(id).await?;
    Ok(upload_response(StatusCode::NO_CONTENT, name, id, size))
}

fn content_range_start(headers: &HeaderMap) -> Result<Option<u64>> {
    let Some(v) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let v = v.trim().strip_prefix("bytes ").unwrap_or(v.trim());
    let start = v
        .split_once('-')
        .and_then(|(s, _)| s.parse::<u64>().ok())
        .ok_or_else(|| {
            RegistryError::range_not_satisfiable(format!("invalid Content-Range {v:?}"))
        })?;
    Ok(Some(start))
}

pub(super) async fn patch_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    check_upload(reg, name, id).await?;
    let start = content_range_start(headers)?;
    let appended = reg.blobs.append(id, start, body.into_data_stream()).await;
    let size = drop_if_full(reg, id, appended).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, id, size))
}

pub(super) async fn finish_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    q: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    check_upload(reg, name, id).await?;
    let d = q.get("digest").ok_or_else(|| {
        RegistryError::digest_invalid("the final PUT of an upload needs ?digest=")
    })?;
    let digest = parse_digest(d)?;
    if let Some(start) = content_range_start(headers)? {
        let size = reg.blobs.upload_size(id).await?;
        if start != size {
            return Err(RegistryError::range_not_satisfiable(format!(
                "chunk starts at {start} but the upload has {size} bytes"
            )));
        }
    }
    commit_upload(reg, name, id, &digest, body).await
}

/// Append the last body, verify, make the blob visible in `name`.
pub(super) async fn commit_upload(
    reg: &Registry,
    name: &str,
    id: &str,
    digest: &Digest,
    body: Body,
) -> Result<Response> {
    let appended = reg.blobs.append(id, None, body.into_data_stream()).await;
    let size = drop_if_full(reg, id, appended).await?;
    // Past its project's storage quota: refused, and the data goes.
    if let Err(why) = reg
        .auth
        .check_storage(name, &digest.to_string(), size)
        .await
    {
        reg.blobs.discard_upload(id).await;
        reg.meta.upload_finished(id).await?;
        return Err(RegistryError::denied(why));
    }
    // Gated from writing the blob to linking it: GC deciding meanwhile
    // that an older copy of the same blob is garbage would delete it.
    let gate = reg.meta.blob_gate(false).await?;
    let linked = commit_and_link(reg, name, id, digest).await;
    gate.release().await;
    linked?;
    Ok(blob_created(name, digest))
}

async fn commit_and_link(reg: &Registry, name: &str, id: &str, digest: &Digest) -> Result<()> {
    let committed = reg.blobs.commit(id, digest).await;
    // Whatever happened, the session is over: a bad digest discards the data.
    if committed.is_ok()
        || matches!(
            committed,
            Err(crate::storage::StorageError::DigestMismatch { .. })
        )
    {
        reg.meta.upload_finished(id).await?;
    }
    let size = drop_if_full(reg, id, committed).await?;
    reg.meta.link_blob(name, &digest.to_string(), size).await?;
    Ok(())
}

/// A write to upload `id` that ran out of disk ends the upload: its
/// partial data is deleted (which also frees the space it held) and the
/// client is told the disk is full. Other results pass through.
async fn drop_if_full<T>(
    reg: &Registry,
    id: &str,
    r: std::result::Result<T, crate::storage::StorageError>,
) -> Result<T> {
    match r {
        Err(crate::storage::StorageError::Io(e)) if crate::error::is_storage_full(&e) => {
            reg.blobs.discard_upload(id).await;
            if let Err(e) = reg.meta.upload_finished(id).await {
                tracing::warn!("upload {id}: cannot forget it after a full disk: {e}");
            }
            Err(RegistryError::storage_full())
        }
        other => other.map_err(RegistryError::from),
    }
}

pub(super) async fn cancel_upload(reg: &Registry, name: &str, id: &str) -> Result<Response> {
    check_upload(reg, name, id).await?;
    reg.blobs.discard_upload(id).await;
    reg.meta.upload_finished(id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
