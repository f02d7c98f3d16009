//! Serving the API and the embedded registry over TLS. One listener
//! answers both ways: a connection that opens with a TLS handshake is
//! served over TLS (the identity of the moment: SIGHUP reloads it); one
//! that opens in plain HTTP is served only when it comes from loopback —
//! this machine's workers, the buildah and skopeo of its builds and its
//! CLI reach the server at `127.0.0.1` whatever name the certificate
//! carries — and is otherwise answered `400` with a JSON error saying to
//! use `https://`, then closed. Without `tls:` the server is plain
//! `axum::serve`.
//!
//! Written here, not taken from `axum-server`: telling the two apart on
//! one port by the first byte is what keeps loopback clients working
//! unchanged while everything from the network must speak TLS.

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use slipway_tls::Reloadable;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a client may take to send its first byte and finish the
/// TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS ClientHello record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a plain-HTTP client from the network gets.
fn use_https() -> String {
    let body = serde_json::json!({
        "code": slipway_core::api::codes::INVALID_REQUEST,
        "message": "this server speaks HTTPS beyond loopback: use an https:// URL",
    })
    .to_string();
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serve `app` on `listener` until `stop`, then let open connections
/// finish (the caller bounds how long).
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<Reloadable>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The client's address reaches handlers (the audit log).
            let service =
                TowerToHyperService::new(app.map_request(move |r: hyper::Request<Incoming>| {
                    let mut r = r.map(axum::body::Body::new);
                    r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    r
                }));
            let http = hyper::server::conn::http1::Builder::new();
            match first_byte(&stream).await {
                Some(TLS_HANDSHAKE) => {
                    let accepted =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream))
                            .await;
                    let Ok(Ok(stream)) = accepted else {
                        return; // no handshake, or a failed one
                    };
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(_) if peer.ip().is_loopback() => {
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(_) => refuse(stream).await,
                None => {}
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The connection's first byte, without reading it; `None` when the
/// client sends nothing in time or goes away.
async fn first_byte(stream: &TcpStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut byte)).await {
        Ok(Ok(1)) => Some(byte[0]),
        _ => None,
    }
}

async fn refuse(mut stream: TcpStream) {
    let _ = stream.write_all(use_https().as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Read the certificate and key again on every SIGHUP; a failed reload
/// keeps the identity being served.
pub fn reload_on_sighup(tls: Arc<Reloadable>) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!(
                    "reloaded the TLS certificate from {}",
                    tls.cert_file().display()
                ),
                Err(e) => tracing::error!("TLS certificate not reloaded, the old one stays: {e}"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_json_answer() {
        let answer = use_https();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "INVALID_REQUEST");
    }
}
