//! The admin listener: `/metrics`, `/healthz`, `/status`, `/quotas/{consumer}` ([`quotas`]) and
//! the bundle endpoints of [`bundles`], all behind a bearer token except `GET /healthz`. With
//! [`tls`] the listener speaks TLS and may require client certificates, and the token is still
//! required.

pub mod bundles;
pub mod quotas;
pub mod tls;
pub mod traffic;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ConfigStore;
use crate::error::problem_response;
use crate::observe::metrics::Metrics;
use crate::proxy::body::{ProxyBody, full_body};

/// State that the admin endpoints read.
#[derive(Debug)]
pub struct Admin {
    pub store: Arc<ConfigStore>,
    pub metrics: Arc<Metrics>,
    pub token: String,
    pub bundles: Arc<bundles::Bundles>,
    /// Time an admin client has to send a whole request head, from the start of the
    /// connection or the end of its last request, before the connection is closed.
    pub header_timeout: std::time::Duration,
}

/// Serves admin requests until `stop` turns true, over TLS when `tls` is given and plain HTTP
/// otherwise.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, tls: Option<tls::AdminTlsAcceptor>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let admin = admin.clone();
        let tls = tls.clone();
        let header_timeout = admin.header_timeout;
        tokio::spawn(async move {
            // Set by the first request, so that a connection that sends no whole head within
            // the header timeout is closed. hyper's own head timer starts only with the first
            // byte of a head, after the protocol detection has read the first bytes.
            let started = Arc::new(AtomicBool::new(false));
            let service_started = started.clone();
            let service = service_fn(move |request| {
                service_started.store(true, Ordering::Relaxed);
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(route(&admin, request).await) }
            });
            // HTTP/1.1 only: `gatectl` speaks it, and hyper's head timer covers it, while an
            // HTTP/2 connection could hold a stream's headers open without any timer.
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let served = async {
                match tls {
                    None => builder.serve_connection(TokioIo::new(stream), service).await,
                    Some(tls) => {
                        let Some(stream) = tls.accept(stream, peer).await else { return Ok(()) };
                        builder.serve_connection(TokioIo::new(stream), service).await
                    }
                }
            };
            tokio::pin!(served);
            let result = tokio::select! {
                result = &mut served => result,
                () = tokio::time::sleep(header_timeout) => {
                    if !started.load(Ordering::Relaxed) {
                        tracing::debug!(client.addr = %peer, "admin connection sent no request head within the header timeout; closing it");
                        return;
                    }
                    served.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, client.addr = %peer, "admin connection ended with an error");
            }
        });
    }
}

/// Sends authorized requests under `/bundles` to [`bundles::handle`], authorized
/// `GET /quotas/{consumer}` to [`quotas::handle`] and all others to [`answer`].
async fn route(admin: &Admin, request: Request<Incoming>) -> Response<ProxyBody> {
    let path = request.uri().path();
    if (path == "/bundles" || path.starts_with("/bundles/")) && is_authorized(&request, &admin.token) {
        let request_id = uuid::Uuid::now_v7().to_string();
        return bundles::handle(&admin.bundles, request, &request_id).await;
    }
    // `/status` and `/metrics` report whether Redis responds now, also while no request has
    // called it lately.
    if (path == "/status" || path == "/metrics")
        && is_read(request.method())
        && is_authorized(&request, &admin.token)
        && let Some(redis) = admin.store.redis()
    {
        redis.refresh().await;
    }
    if let Some(consumer) = path.strip_prefix("/quotas/")
        && is_read(request.method())
        && is_authorized(&request, &admin.token)
    {
        let request_id = uuid::Uuid::now_v7().to_string();
        return quotas::handle(&admin.store, consumer, &request_id).await;
    }
    answer(admin, &request)
}

fn answer(admin: &Admin, request: &Request<Incoming>) -> Response<ProxyBody> {
    let request_id = uuid::Uuid::now_v7().to_string();
    // Liveness probes carry no credentials, so `GET /healthz` (and `HEAD`, which some probes
    // send) needs no token; it reveals nothing.
    let is_liveness_probe = is_read(request.method()) && request.uri().path() == "/healthz";
    if !is_liveness_probe && !is_authorized(request, &admin.token) {
        let mut response = problem_response(StatusCode::UNAUTHORIZED, "a valid admin bearer token is required", &request_id);
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if !is_read(request.method()) {
        let mut response = problem_response(StatusCode::METHOD_NOT_ALLOWED, "these admin endpoints accept GET and HEAD only", &request_id);
        response.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/healthz" => json_response(&serde_json::json!({ "status": "ok" })),
        "/metrics" => {
            let text = admin.metrics.render(&admin.store.current());
            let mut response = Response::new(full_body(Bytes::from(text)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
            response
        }
        "/status" => json_response(&status(admin)),
        _ => problem_response(StatusCode::NOT_FOUND, "unknown admin endpoint; use /metrics, /healthz or /status", &request_id),
    }
}

/// Tells whether `method` reads: `GET`, or `HEAD`, which gets the same head without the body
/// (hyper leaves the body out).
fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

fn is_authorized(request: &Request<Incoming>, token: &str) -> bool {
    let Some(presented) = request.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok()) else { return false };
    let Some((scheme, credential)) = presented.split_once(' ') else { return false };
    scheme.eq_ignore_ascii_case("bearer") && bool::from(credential.trim().as_bytes().ct_eq(token.as_bytes()))
}

fn status(admin: &Admin) -> serde_json::Value {
    let config = admin.store.current();
    let active = admin.bundles.active();
    let mut upstreams: Vec<_> = config
        .upstreams
        .values()
        .map(|pool| {
            let targets: Vec<_> = pool
                .targets
                .iter()
                .map(|target| {
                    serde_json::json!({
                        "address": target.authority,
                        "healthy": target.is_healthy(),
                        "ejected": target.is_ejected(),
                        "inFlight": target.in_flight.load(std::sync::atomic::Ordering::Relaxed),
                    })
                })
                .collect();
            serde_json::json!({ "name": pool.name, "targets": targets })
        })
        .collect();
    upstreams.sort_by(|left, right| left["name"].as_str().cmp(&right["name"].as_str()));
    serde_json::json!({
        "version": active.as_ref().map(|active| active.version),
        "hash": active.as_ref().map(|active| active.hash.clone()),
        "activatedAt": active.as_ref().map(|active| active.activated_at.clone()),
        "traffic": admin.metrics.traffic.snapshot(),
        "config": {
            "generation": config.generation,
            "hash": config.hash,
            "activatedAt": gatectl_spec::bundle::format_timestamp(config.activated_at),
            "routes": config.routes.len(),
        },
        "upstreams": upstreams,
        "rateLimitStore": rate_limit_store(admin),
    })
}

fn rate_limit_store(admin: &Admin) -> serde_json::Value {
    match admin.store.redis() {
        None => serde_json::json!({ "kind": "memory" }),
        Some(redis) => {
            let status = redis.status();
            serde_json::json!({
                "kind": "redis",
                "url": status.url,
                "reachable": status.reachable,
                "failureModeChecks": status.failure_mode_calls,
                "lastError": status.last_error,
            })
        }
    }
}

fn json_response(value: &serde_json::Value) -> Response<ProxyBody> {
    let mut response = Response::new(full_body(Bytes::from(value.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
