//! The request path: normalisation, routing, authentication and limits, upstream selection and
//! forwarding.
//!
//! [`handle`] wraps one request with its ID, trace context, tracing span, metrics and access
//! log. Inside it, `forward` runs the steps in the order a request takes them.

pub mod body;
mod enforce;
mod exchange;
pub mod headers;
mod upgrade;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_LENGTH, HOST, HeaderValue, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{Request, Response, Uri, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;

use crate::config::{CompiledConfig, CompiledRoute, ConfigStore, StickyKey};
use crate::error::{ProxyError, Side};
use crate::listener::Drain;
use crate::listener::head_timeout::{AbortHandle, ActivityGuard};
use crate::normalize::{normalize_host, normalize_path};
use crate::observe::access_log::{AccessLog, AccessRecord};
use crate::observe::log_lines::{RequestLabels, RequestScope};
use crate::observe::metrics::Metrics;
use crate::observe::{TraceContext, request_id};
use crate::routing::{RouteQuery, split_path};
use crate::upstream::UpstreamPool;
use crate::upstream::balancer::BalanceKey;
use crate::upstream::connections::{self, ExchangeError};
use body::{BodyProgress, LimitedBody, ObservedBody, ProxyBody, ResponseTrailerFilter, TrailerPolicy};
use exchange::Exchange;
pub use exchange::{Unrouted, Unstarted, take_panicked_request_id};
use gatectl_spec::model::UpstreamScheme;

/// The W3C trace context header.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// State shared by every connection.
#[derive(Debug)]
pub struct Gateway {
    pub store: Arc<ConfigStore>,
    pub metrics: Arc<Metrics>,
    pub access_log: AccessLog,
    /// Counts open client connections, WebSocket tunnels included, for the shutdown drain.
    pub drain: Arc<Drain>,
}

/// Facts about the client connection a request arrived on, computed once per connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub is_tls: bool,
    /// The peer's IP address as a header value, for `X-Forwarded-For`.
    peer_ip_value: HeaderValue,
    /// The request ID header of the configuration active when the connection opened, for
    /// responses made outside a request's handling.
    pub request_id_header: http::HeaderName,
}

impl ConnectionInfo {
    pub fn new(peer: SocketAddr, is_tls: bool, request_id_header: http::HeaderName) -> Self {
        let peer_ip_value = HeaderValue::from_str(&peer.ip().to_string()).expect("an IP address is a valid header value");
        Self { peer, is_tls, peer_ip_value, request_id_header }
    }
}

/// Facts the access log and metrics report about one request, filled in as it proceeds.
#[derive(Debug)]
struct RequestFacts {
    /// Index of the matched route in the configuration.
    route: Option<usize>,
    target: String,
    path: String,
    client_ip: IpAddr,
    /// The consumer's id; empty for anonymous requests and tokens of no known consumer.
    consumer: String,
    /// Rate-limit headers added to the response, whatever its status.
    limit_headers: http::HeaderMap,
    /// Path parameter names and values of a template route, kept only for the access log.
    path_parameters: Vec<(Arc<str>, String)>,
    upstream_latency: Option<Duration>,
    /// End of the total timeout, applied to the response body too.
    deadline: Option<tokio::time::Instant>,
    request_body: Option<Arc<BodyProgress>>,
    /// The channel that hands the access-log record to the tunnel after a switch to WebSocket.
    /// The tunnel writes the record when it closes.
    tunnel_log: Option<tokio::sync::oneshot::Sender<upgrade::PendingRecord>>,
}

impl RequestFacts {
    fn route_name<'a>(&self, config: &'a CompiledConfig) -> &'a str {
        self.route.map_or("", |index| config.routes[index].name.as_str())
    }
}

/// Serves one request. The result is always `Ok`, because every error becomes a problem+json
/// response. `guard` is kept until the response body has been sent or dropped. The request body
/// keeps the connection counted as busy on its own until it has been read.
pub async fn handle(
    unstarted: Unstarted,
    connection: &ConnectionInfo,
    request: Request<Incoming>,
    guard: ActivityGuard,
) -> Result<Response<ProxyBody>, Infallible> {
    let (gateway, started) = unstarted.start();
    let config = gateway.store.current();
    let in_flight = gateway.metrics.request_started();

    let head = guard.head_facts();
    // An ID whose control characters were replaced by spaces could look valid once hyper trims
    // the spaces at its ends, so it is never kept.
    let incoming_id = if head.request_id_cleaned { None } else { request.headers().get(&config.request_id_header) };
    let request_id = request_id(incoming_id);
    // Two `traceparent` headers make the context invalid (W3C Trace Context, section 3.2), as one
    // invalid header does.
    let mut traceparents = request.headers().get_all(TRACEPARENT).iter();
    let first = traceparents.next();
    let trace = TraceContext::from_header(if traceparents.next().is_some() { None } else { first });
    let method = request.method().clone();
    let labels = RequestLabels::new(&request_id, trace.trace_id());

    let facts = RequestFacts {
        route: None,
        target: String::new(),
        // Kept only for the access log.
        path: if gateway.access_log.is_enabled() { request.uri().path().to_owned() } else { String::new() },
        client_ip: connection.peer.ip(),
        consumer: String::new(),
        limit_headers: http::HeaderMap::new(),
        path_parameters: Vec::new(),
        upstream_latency: None,
        deadline: None,
        request_body: None,
        tunnel_log: None,
    };
    let mut exchange = Exchange { gateway: &gateway, config: &config, started, request_id, trace, method, facts, answered: false };
    #[cfg(test)]
    exchange::panic_on_test_header(&request);
    let incoming = IncomingRequest { request, raw_head_bytes: head.raw_bytes, guard: &guard };
    // Built inside the awaited expression: a future bound to a name first would keep a second
    // slot of its size in this function's state, which every move of the state copies.
    let result = RequestScope::new(
        labels.clone(),
        forward(&gateway, &config, connection, incoming, &exchange.request_id, &exchange.trace, &mut exchange.facts),
    )
    .await;
    exchange.answered = true;
    let facts = &mut exchange.facts;
    let request_id = std::mem::take(&mut exchange.request_id);
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            // Upstream failures were logged with their cause where they happened.
            labels.in_scope(|| match error.side() {
                Side::Gateway => tracing::warn!(%error, route = facts.route_name(&config), "request failed"),
                Side::Client | Side::Upstream => tracing::debug!(%error, status = error.status().as_u16(), "request rejected or failed"),
            });
            error.to_response(&request_id)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(config.request_id_header.clone(), value);
    }
    if !facts.limit_headers.is_empty() {
        response.headers_mut().extend(std::mem::take(&mut facts.limit_headers));
    }

    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let deadline = facts.deadline;
    let record = gateway.access_log.is_enabled().then(|| AccessRecord {
        timestamp: SystemTime::now(),
        request_id,
        trace: std::mem::take(&mut exchange.trace),
        client_address: facts.client_ip,
        consumer: facts.consumer.clone(),
        route: facts.route_name(&config).to_owned(),
        upstream_target: std::mem::take(&mut facts.target),
        method: Some(std::mem::replace(&mut exchange.method, http::Method::GET)),
        path: std::mem::take(&mut facts.path),
        path_parameters: std::mem::take(&mut facts.path_parameters),
        status,
        bytes_in: 0,
        bytes_out: 0,
        total_latency_ms: 0.0,
        upstream_latency_ms: facts.upstream_latency.map(milliseconds),
        response_incomplete: false,
    });
    let request_body = facts.request_body.take();
    let tunnel_log = facts.tunnel_log.take();
    let (route, consumer) = (facts.route, std::mem::take(&mut facts.consumer));
    drop(exchange);
    let body_timeout = config.body_timeout;
    let watch_labels = labels.clone();
    let observed = ObservedBody::new(body, deadline, move |bytes_out, failed| {
        drop(in_flight);
        if let Some(body) = request_body.as_ref().filter(|body| !body.finished.load(Ordering::Relaxed)) {
            tokio::spawn(close_if_body_stalls(body.clone(), guard.abort_handle(), body_timeout, watch_labels));
        }
        drop(guard);
        let elapsed = started.elapsed();
        let compiled = route.map(|index| &config.routes[index]);
        let route_name = compiled.map_or("", |route| route.name.as_str());
        // A response body the upstream broke off counts as a 502 in the metrics and the traffic
        // window, so that a rollout's health gate counts it, whatever status the head had.
        let counted = if failed && status < 500 { 502 } else { status };
        gateway.metrics.request_finished(route_name, compiled.map(|route| &route.metrics), &consumer, counted, elapsed.as_secs_f64());
        if let Some(mut record) = record {
            record.bytes_out = bytes_out;
            record.response_incomplete = failed;
            record.bytes_in = request_body.map_or(0, |body| body.received.load(Ordering::Relaxed));
            record.total_latency_ms = milliseconds(elapsed);
            match tunnel_log {
                Some(tunnel) => drop(tunnel.send((record, started))),
                None => gateway.access_log.record(record),
            }
        }
    });
    Ok(Response::from_parts(parts, observed.boxed()))
}

/// Watches a request body that is still being sent upstream after its response has ended, for
/// example after an upstream that responds early. When no byte of it moves for `timeout`, the
/// client connection is closed: nothing else would end an exchange whose upstream stopped
/// reading, because the body's own timer runs only while someone reads it.
async fn close_if_body_stalls(body: Arc<BodyProgress>, connection: AbortHandle, timeout: Duration, labels: Arc<RequestLabels>) {
    let mut received = body.received.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(timeout).await;
        if body.finished.load(Ordering::Relaxed) {
            return;
        }
        let now = body.received.load(Ordering::Relaxed);
        if now == received {
            labels.in_scope(|| tracing::info!(received = now, "request body stalled after its response; closing the client connection"));
            connection.abort();
            return;
        }
        received = now;
    }
}

/// Returns `duration` in milliseconds, to the microsecond, so that log lines carry no float
/// noise such as `0.44366300000000003`.
fn milliseconds(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// A request as the listener hands it over, with the connection's facts about it.
struct IncomingRequest<'a> {
    request: Request<Incoming>,
    /// The head's size as received, or 0 when the connection did not measure it.
    raw_head_bytes: u32,
    /// Holds the connection's activity while the request body is read.
    guard: &'a ActivityGuard,
}

/// Runs one request through normalisation, routing, upstream selection and proxying.
async fn forward(
    gateway: &Gateway,
    config: &CompiledConfig,
    connection: &ConnectionInfo,
    incoming: IncomingRequest<'_>,
    request_id: &str,
    trace: &TraceContext,
    facts: &mut RequestFacts,
) -> Result<Response<ProxyBody>, ProxyError> {
    let IncomingRequest { mut request, raw_head_bytes, guard } = incoming;
    // Request normalisation.
    check_head_size(&request, raw_head_bytes, config.max_header_bytes)?;
    check_framing(request.headers())?;
    // HTTP/1.1 parsing drops the blanks around a value. HTTP/2 carries values as they were sent,
    // and RFC 9113 section 8.2.1 makes a request with such blanks malformed.
    if request.version() == Version::HTTP_2 && headers::has_padded_value(request.headers()) {
        return Err(ProxyError::BadRequest("a header value starts or ends with a space or tab"));
    }
    let host = request_host(&request)?;
    let path = normalize_path(request.uri().path())?;
    if gateway.access_log.is_enabled() {
        facts.path.clone_from(&path);
    }
    let client_ip = headers::client_ip(connection.peer.ip(), request.headers(), &config.trusted_proxies);
    facts.client_ip = client_ip;

    // Routing.
    let segments: Vec<&str> = split_path(&path).collect();
    let (version, version_segments) = requested_version(config, &segments, request.headers());
    let query = RouteQuery {
        host: host.as_deref(),
        segments: &segments[version_segments..],
        method: request.method(),
        headers: request.headers(),
        version: version.as_deref(),
    };
    let matched = config.router.lookup(&query)?;
    let route = &config.routes[matched.route];
    facts.route = Some(matched.route);
    if !route.path_parameters.is_empty() && gateway.access_log.is_enabled() {
        let matched_segments = &segments[version_segments..];
        facts.path_parameters =
            route.path_parameters.iter().map(|(position, name)| (name.clone(), matched_segments[*position].to_owned())).collect();
    }

    // Authentication, rate limits and quotas, before upstream selection so that the consumer
    // can drive sticky splits and consistent hashing. Only the empty configuration lacks an
    // enforcer, and it has no routes, so the `else` branch is a safeguard.
    let Some(enforcement) = &config.enforcement else { return Err(ProxyError::NoRoute) };
    let identity = if route.open {
        enforcement.enforcer.anonymous()
    } else {
        // Boxed, so that the enforcer's future does not enlarge every request's state, which
        // hyper moves as a whole.
        let admitted =
            Box::pin(enforce::admit(&enforcement.enforcer, &route.name, request.headers(), request.uri(), client_ip, request_id, facts));
        match admitted.await {
            Ok(identity) => identity,
            Err(rejection) => return Ok(rejection),
        }
    };

    let body_limit = route.max_body_bytes.unwrap_or(config.max_body_bytes);
    if content_length(request.headers()).is_some_and(|length| length > body_limit) {
        return Err(ProxyError::BodyTooLarge { limit: body_limit });
    }

    // Upstream selection.
    let consumer = identity.consumer.as_ref().map(|consumer| consumer.id.as_str());
    let pool = route.backend.pick(consumer.map_or(StickyKey::Client(client_ip), StickyKey::Consumer));
    let key = BalanceKey { headers: request.headers(), client_ip, consumer };
    let target_index = pool.pick(&key).ok_or_else(|| ProxyError::NoHealthyTarget { upstream: pool.name.clone() })?;
    let target = &pool.targets[target_index];
    if gateway.access_log.is_enabled() {
        facts.target.clone_from(&target.authority);
    }

    // Proxying.
    let mut forwarded_path = String::with_capacity(path.len() + pool.base_path.len());
    forwarded_path.push_str(&pool.base_path);
    for segment in &segments[..version_segments] {
        forwarded_path.push('/');
        forwarded_path.push_str(segment);
    }
    let skip = version_segments + if route.strip_prefix { matched.prefix_segments } else { 0 };
    let rest = &segments[skip..];
    if rest.is_empty() {
        forwarded_path.push('/');
    }
    for segment in rest {
        forwarded_path.push('/');
        forwarded_path.push_str(segment);
    }
    let query = match (request.uri().query(), &identity.remove_query_parameter) {
        (Some(query), Some(name)) => enforce::remove_query_parameter(query, name),
        (query, _) => query.map(std::borrow::Cow::Borrowed),
    };
    // Plain-HTTP targets take the origin form on their kept connections; the general client
    // takes the absolute form and picks its connection from it.
    let uri_text = match (pool.scheme, query) {
        (UpstreamScheme::Http, Some(query)) => format!("{forwarded_path}?{query}"),
        (UpstreamScheme::Http, None) => forwarded_path,
        (_, Some(query)) => format!("{}://{}{forwarded_path}?{query}", pool.uri_scheme(), target.authority),
        (_, None) => format!("{}://{}{forwarded_path}", pool.uri_scheme(), target.authority),
    };
    let uri: Uri = uri_text.parse().map_err(|_| ProxyError::BadRequest("the request path cannot be forwarded"))?;

    let client_upgrade = headers::is_upgrade_request(request.headers()) && request.version() == Version::HTTP_11;
    // gRPC runs over HTTP/2 only, so an HTTP/1.1 request cannot skip buffering by claiming it.
    let streams_grpc = request.version() == Version::HTTP_2 && is_grpc(request.headers());
    let unknown_length = has_unknown_length(&request);
    let buffer_body = route.request_buffering && unknown_length && !streams_grpc;
    let client_on_upgrade = client_upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, incoming) = request.into_parts();
    // The upstream gets the host that routing used, so it cannot pick another virtual host.
    let original_host = parts
        .uri
        .authority()
        .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok())
        .or_else(|| parts.headers.get(HOST).cloned());
    let keeps_te_trailers = pool.scheme == UpstreamScheme::H2c
        && parts.headers.get_all(http::header::TE).iter().any(|value| value.as_bytes().eq_ignore_ascii_case(b"trailers"));
    let announced_trailers = parts.headers.remove(TRAILER);
    let connection_named = headers::strip_hop_by_hop(&mut parts.headers, client_upgrade);
    if parts.version == Version::HTTP_2 {
        headers::join_cookies(&mut parts.headers);
    }
    // Reserves room for the gateway's own headers added below, so that the map does not grow
    // one step at a time while they are added.
    parts.headers.reserve(8);
    if keeps_te_trailers {
        parts.headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    set_forwarding_headers(&mut parts.headers, connection, original_host.as_ref(), parts.version);
    set_upstream_host(&mut parts.headers, route, pool, &target.authority, original_host);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        parts.headers.insert(config.request_id_header.clone(), value);
    }
    if let Ok(value) = HeaderValue::from_str(&trace.traceparent) {
        parts.headers.insert(TRACEPARENT, value);
    }
    headers::keep_tracestate(&mut parts.headers, trace.continued);
    route.request_headers.apply(&mut parts.headers);
    for template in &route.request_header_templates {
        template.apply(&mut parts.headers, &segments[version_segments..]);
    }
    // After the route's own header changes, so that no configuration can forge an identity.
    enforce::apply_identity(&mut parts.headers, &identity);
    parts.uri = uri;
    parts.version = if pool.scheme == UpstreamScheme::H2c { Version::HTTP_2 } else { Version::HTTP_11 };

    let trailer_policy = TrailerPolicy {
        request_id_header: config.request_id_header.clone(),
        identity_headers: identity.strip_headers.clone(),
        connection_named,
    };
    // A body can still be arriving after its response has ended (an upstream that responds
    // early), and until it has been read the connection must not wait for a next head.
    let hold = (!incoming.is_end_stream()).then(|| guard.hold());
    let limited = LimitedBody::new(incoming, body_limit, config.body_timeout, trailer_policy.clone()).holding(hold);
    let progress = limited.progress.clone();
    facts.request_body = Some(progress.clone());
    let body = if buffer_body {
        // A body that fails here never reaches the upstream, so the log names no target.
        read_whole_body(limited, &progress, body_limit, &mut parts.headers).await.inspect_err(|_| facts.target.clear())?
    } else {
        // An HTTP/1.1 upstream gets only the trailers that the head announces. A body of known
        // length goes without chunks, so it cannot carry trailers and announces none.
        if let Some(names) = announced_trailers
            .filter(|_| unknown_length)
            .and_then(|names| allowed_trailer_names(&names, |name| trailer_policy.allows(name)))
        {
            parts.headers.insert(TRAILER, names);
        }
        limited.boxed()
    };
    let upstream_request = Request::from_parts(parts, body);

    let response = send(route, pool, target_index, upstream_request, &progress, body_limit, facts).await?;
    finish_response(gateway, route, response, client_on_upgrade, &mut facts.tunnel_log)
}

/// Tells whether the request has a body whose length the head does not give: chunked over
/// HTTP/1.1, or HTTP/2 without `content-length`.
fn has_unknown_length(request: &Request<Incoming>) -> bool {
    let body = request.body();
    !body.is_end_stream() && body.size_hint().exact().is_none()
}

/// Tells whether the request declares gRPC, whose HTTP/2 requests stream messages both ways,
/// so their bodies are never buffered.
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Keeps the names of a client's `Trailer` header that `policy` allows, or `None` when none is.
fn allowed_trailer_names(announced: &HeaderValue, allows: impl Fn(&http::HeaderName) -> bool) -> Option<HeaderValue> {
    let text = announced.to_str().ok()?;
    let allowed: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|name| http::HeaderName::from_bytes(name.as_bytes()).is_ok_and(|name| allows(&name)))
        .collect();
    if allowed.is_empty() { None } else { HeaderValue::from_str(&allowed.join(", ")).ok() }
}

/// Reads a request body in full before the upstream is contacted, so that a body over the
/// limit gets 413 and the upstream never gets a request cut short. The body is copied into one
/// buffer, so small chunks cost no more memory than their bytes. The upstream gets it with its
/// `Content-Length`, or chunked with the client's allowed trailers, announced in `Trailer`.
async fn read_whole_body(
    mut body: LimitedBody<Incoming>,
    progress: &BodyProgress,
    limit: u64,
    headers: &mut http::HeaderMap,
) -> Result<ProxyBody, ProxyError> {
    let mut data = bytes::BytesMut::new();
    let mut trailers: Option<http::HeaderMap> = None;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            // `LimitedBody` marks every error it returns in `progress`.
            Err(_) => return Err(body_failure(progress, limit).unwrap_or(ProxyError::BadRequest(CLIENT_BODY_FAILED))),
        };
        match frame.into_data() {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(frame) => trailers = frame.into_trailers().ok().filter(|trailers| !trailers.is_empty()),
        }
    }
    // The whole body is here, so the upstream has nothing to wait for.
    headers.remove(http::header::EXPECT);
    let data = data.freeze();
    let Some(trailers) = trailers else {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(data.len()));
        return Ok(body::full_body(data));
    };
    let names = trailers.keys().map(http::HeaderName::as_str).collect::<Vec<_>>().join(", ");
    if let Ok(value) = HeaderValue::from_str(&names) {
        headers.insert(TRAILER, value);
    }
    let frames = [Ok::<_, Infallible>(Frame::data(data)), Ok(Frame::trailers(trailers))];
    Ok(StreamBody::new(futures_util::stream::iter(frames)).map_err(|never| match never {}).boxed())
}

/// The message of a request whose body failed on the client's side.
const CLIENT_BODY_FAILED: &str = "the request body is malformed or the client stopped sending it";

/// Returns the error for a request body that failed: over the limit, too slow, or broken by the
/// client. `None` when the body did not fail.
fn body_failure(progress: &BodyProgress, limit: u64) -> Option<ProxyError> {
    if progress.exceeded.load(Ordering::Relaxed) {
        Some(ProxyError::BodyTooLarge { limit })
    } else if progress.timed_out.load(Ordering::Relaxed) {
        Some(ProxyError::BodyTimeout)
    } else if progress.client_failed.load(Ordering::Relaxed) {
        Some(ProxyError::BadRequest(CLIENT_BODY_FAILED))
    } else {
        None
    }
}

/// Sends the request to one target, once: requests are never retried, so a POST whose
/// upstream fails after reading the body is not sent twice.
async fn send(
    route: &CompiledRoute,
    pool: &Arc<UpstreamPool>,
    target_index: usize,
    request: Request<ProxyBody>,
    request_body: &BodyProgress,
    body_limit: u64,
    facts: &mut RequestFacts,
) -> Result<Response<ProxyBody>, ProxyError> {
    let target = &pool.targets[target_index];
    let connect_timeout = route.timeouts.connect.unwrap_or(pool.timeouts.connect).as_std();
    let response_timeout = route.timeouts.response.unwrap_or(pool.timeouts.response).as_std();
    let total_timeout = route.timeouts.total.unwrap_or(pool.timeouts.total).as_std();

    let counted = InFlight::count(&target.in_flight);
    let sent = tokio::time::Instant::now();
    facts.deadline = Some(sent + total_timeout);
    let exchange = std::pin::pin!(async {
        if pool.scheme == UpstreamScheme::Http {
            connections::send(&target.connections, &target.authority, connect_timeout, request).await.map_err(|error| match error {
                ExchangeError::ConnectTimeout => (ProxyError::UpstreamTimeout, error.to_string()),
                ExchangeError::Connect(_) | ExchangeError::Handshake(_) => (ProxyError::UpstreamConnect, error.to_string()),
                ExchangeError::Exchange(_) | ExchangeError::Direct(_) => (ProxyError::UpstreamFailure, error_chain(&error)),
            })
        } else {
            match pool.client(connect_timeout).request(request).await {
                Ok(response) => Ok(response.map(|incoming| incoming.map_err(Into::into).boxed())),
                Err(error) => Err((classify_client_error(&error), error_chain(&error))),
            }
        }
    });
    let result = response_within(exchange, sent, request_body, response_timeout, total_timeout).await;
    drop(counted);
    facts.upstream_latency = Some(sent.elapsed());

    let outcome = match result {
        // A body the gateway still waits for is why the upstream has not responded, so the client
        // is at fault. A body the upstream stopped reading is the upstream's.
        Err(_elapsed) if is_awaiting_client(request_body) => {
            tracing::debug!(route = %route.name, received = request_body.received.load(Ordering::Relaxed), "the request body was still arriving at the total timeout");
            return Err(ProxyError::BodyTimeout);
        }
        Err(_elapsed) => {
            tracing::warn!(route = %route.name, upstream.addr = %target.authority, timeout = ?response_timeout.min(total_timeout), "upstream response timed out");
            Err(ProxyError::UpstreamTimeout)
        }
        Ok(Err((error, cause))) => {
            // A failure of the client's body is not the upstream's: no 502, and nothing counts
            // against the target.
            if let Some(failure) = body_failure(request_body, body_limit) {
                tracing::debug!(%failure, route = %route.name, "the request body failed while it was sent upstream");
                return Err(failure);
            }
            tracing::warn!(error = %cause, route = %route.name, upstream.addr = %target.authority, "upstream request failed");
            Err(error)
        }
        Ok(Ok(response)) => Ok(response),
    };
    // A 501 is about the client's request, not the target's health, as in the traffic window.
    let success = outcome.as_ref().is_ok_and(|response| {
        let status = response.status();
        !status.is_server_error() || status == http::StatusCode::NOT_IMPLEMENTED
    });
    pool.record_passive(target_index, success);
    outcome
}

/// Tells whether a request body is unfinished because the client has not sent the rest yet.
fn is_awaiting_client(body: &BodyProgress) -> bool {
    !body.finished.load(Ordering::Relaxed) && body.awaiting_client.load(Ordering::Relaxed)
}

/// Counts a request in a target's `in_flight` until dropped, also when the client leaves and
/// the request's future is dropped while it waits for the upstream.
struct InFlight<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> InFlight<'a> {
    fn count(counter: &'a std::sync::atomic::AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits for the upstream's response head. The response timeout counts from the end of the
/// request body, because an upstream cannot be expected to respond before it has the whole
/// request. The total timeout counts from `start`, when the request was sent.
async fn response_within<F: Future>(
    mut exchange: Pin<&mut F>,
    start: tokio::time::Instant,
    body: &BodyProgress,
    response_timeout: Duration,
    total_timeout: Duration,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let total_deadline = start + total_timeout;
    let mut deadline = (start + response_timeout).min(total_deadline);
    loop {
        let elapsed = match tokio::time::timeout_at(deadline, exchange.as_mut()).await {
            Ok(output) => return Ok(output),
            Err(elapsed) => elapsed,
        };
        let now = tokio::time::Instant::now();
        let response_deadline = if body.finished.load(Ordering::Relaxed) {
            let finished_ago = crate::upstream::now_millis().saturating_sub(body.finished_at.load(Ordering::Relaxed));
            now.checked_sub(Duration::from_millis(finished_ago)).unwrap_or(now) + response_timeout
        } else if is_awaiting_client(body) {
            now + response_timeout
        } else {
            // The upstream stopped reading the body: its response timeout runs.
            return Err(elapsed);
        };
        if response_deadline <= now || now >= total_deadline {
            return Err(elapsed);
        }
        deadline = response_deadline.min(total_deadline);
    }
}

fn classify_client_error(error: &hyper_util::client::legacy::Error) -> ProxyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut timed_out = false;
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            timed_out = true;
        }
        source = current.source();
    }
    match (error.is_connect(), timed_out) {
        (_, true) => ProxyError::UpstreamTimeout,
        (true, false) => ProxyError::UpstreamConnect,
        (false, false) => ProxyError::UpstreamFailure,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(current) = source {
        text.push_str(": ");
        text.push_str(&current.to_string());
        source = current.source();
    }
    text
}

fn finish_response(
    gateway: &Gateway,
    route: &CompiledRoute,
    mut response: Response<ProxyBody>,
    client_on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    tunnel_log: &mut Option<tokio::sync::oneshot::Sender<upgrade::PendingRecord>>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    if switching {
        // Only the switch to WebSocket that the request asked for opens a tunnel. After any
        // other, the client's next bytes would reach the upstream without routing or auth.
        let Some(client_on_upgrade) = client_on_upgrade.filter(|_| headers::switches_to_websocket(response.headers())) else {
            let upgrade = response.headers().get(UPGRADE).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            tracing::warn!(route = %route.name, upgrade = upgrade.as_deref().unwrap_or(""), "upstream responded 101 with a protocol other than WebSocket, or to a request without an upgrade; responding 502");
            return Err(ProxyError::UpstreamFailure);
        };
        let upstream_on_upgrade = hyper::upgrade::on(&mut response);
        let log = gateway.access_log.is_enabled().then(|| {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            *tunnel_log = Some(sender);
            (receiver, gateway.access_log.clone())
        });
        upgrade::spawn_tunnel(client_on_upgrade, upstream_on_upgrade, gateway.drain.hold(), log);
    }
    let (mut parts, mut body) = response.into_parts();
    // A body of unknown length may end with trailers, which lose connection-specific fields as
    // the head does. Their `Trailer` announcement is kept for them, because an HTTP/1.1 client
    // gets only the trailers it names.
    let may_have_trailers = !switching && !body.is_end_stream() && body.size_hint().exact().is_none();
    let announced = if may_have_trailers { parts.headers.get(TRAILER).cloned() } else { None };
    let connection_named = headers::strip_hop_by_hop(&mut parts.headers, switching);
    if may_have_trailers {
        let allows = |name: &http::HeaderName| ResponseTrailerFilter::allows(name, &connection_named);
        if let Some(names) = announced.and_then(|names| allowed_trailer_names(&names, allows)) {
            parts.headers.insert(TRAILER, names);
        }
        body = ResponseTrailerFilter::new(body, connection_named).boxed();
    }
    for (name, value) in &route.deprecation_headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    route.response_headers.apply(&mut parts.headers);
    Ok(Response::from_parts(parts, body))
}

/// Rejects request heads larger than the limit: the request line plus each header line, or
/// `raw_bytes`, the head's size as received (0 when unknown), whichever is larger. The size as
/// received counts because hyper trims the blanks around each value.
fn check_head_size<B>(request: &Request<B>, raw_bytes: u32, limit: u64) -> Result<(), ProxyError> {
    let target = request.uri().path_and_query().map_or(1, |target| target.as_str().len());
    let line = request.method().as_str().len() + target + 12;
    let headers: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if ((line + headers) as u64).max(u64::from(raw_bytes)) > limit {
        return Err(ProxyError::HeadersTooLarge { limit });
    }
    Ok(())
}

/// Checks framing beyond what hyper 1.x already does. Hyper responds 400 to differing
/// Content-Length values and to a Transfer-Encoding whose last coding is not `chunked`, and it
/// drops Content-Length when Transfer-Encoding is present. Transfer codings other than `chunked`
/// alone get 501, because forwarding the decoded body without them would change its meaning.
fn check_framing(headers: &http::HeaderMap) -> Result<(), ProxyError> {
    for value in headers.get_all(TRANSFER_ENCODING) {
        let is_plain_chunked = value.to_str().is_ok_and(|text| text.trim().eq_ignore_ascii_case("chunked"));
        if !is_plain_chunked {
            return Err(ProxyError::UnsupportedTransferCoding);
        }
    }
    if headers.get_all(CONTENT_LENGTH).iter().count() > 1 {
        return Err(ProxyError::BadRequest("the request has more than one Content-Length header"));
    }
    Ok(())
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Returns the request's host without port. The authority of the request target, from an
/// absolute-form HTTP/1.1 target or HTTP/2's `:authority`, comes before `Host` (RFC 9112
/// section 3.2.2). HTTP/1.1 requests must carry exactly one `Host` (RFC 9112 section 3.2).
fn request_host<B>(request: &Request<B>) -> Result<Option<String>, ProxyError> {
    let mut hosts = request.headers().get_all(HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::BadRequest("the request has more than one Host header; send exactly one"));
    }
    let header = match first {
        Some(value) => {
            let text = value.to_str().map_err(|_| ProxyError::BadRequest(INVALID_HOST))?;
            Some(normalize_host(text).ok_or(ProxyError::BadRequest(INVALID_HOST))?)
        }
        None => None,
    };
    if let Some(authority) = request.uri().authority() {
        return normalize_host(authority.as_str()).map(Some).ok_or(ProxyError::BadRequest(INVALID_AUTHORITY));
    }
    if header.is_some() {
        return Ok(header);
    }
    // HTTP/1.0 may leave the host out. HTTP/2 carries it in `:authority`, or else in `Host`.
    if request.version() != Version::HTTP_10 && request.version() != Version::HTTP_09 {
        return Err(ProxyError::BadRequest("the request carries no Host header or authority; send Host as host[:port]"));
    }
    Ok(None)
}

const INVALID_HOST: &str = "the Host header is not valid; send a host name or IP address with an optional port, as host[:port]";
const INVALID_AUTHORITY: &str =
    "the request target's authority is not valid; send a host name or IP address with an optional port, as host[:port]";

/// Returns the requested API version (aliases resolved) and how many leading path segments
/// named it (0 or 1).
fn requested_version(config: &CompiledConfig, segments: &[&str], headers: &http::HeaderMap) -> (Option<String>, usize) {
    let versioning = &config.versioning;
    let resolve = |name: &str| versioning.aliases.get(name).cloned().unwrap_or_else(|| name.to_owned());
    if versioning.url_prefix
        && let Some(first) = segments.first()
    {
        let resolved = resolve(first);
        if config.router.is_known_version(&resolved) {
            return (Some(resolved), 1);
        }
    }
    if let Some(value) = headers.get(versioning.header.as_str()).and_then(|value| value.to_str().ok()) {
        return (Some(resolve(value.trim())), 0);
    }
    (versioning.default_version.as_deref().map(resolve), 0)
}

fn set_forwarding_headers(
    headers: &mut http::HeaderMap,
    connection: &ConnectionInfo,
    original_host: Option<&HeaderValue>,
    version: Version,
) {
    headers::append_forwarded_for(headers, &connection.peer_ip_value);
    let proto = if connection.is_tls { "https" } else { "http" };
    headers.insert(headers::X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(host) = original_host {
        headers.insert(headers::X_FORWARDED_HOST, host.clone());
    }
    let via = match version {
        Version::HTTP_2 => "2 gatectl",
        Version::HTTP_10 => "1.0 gatectl",
        _ => "1.1 gatectl",
    };
    headers.append(http::header::VIA, HeaderValue::from_static(via));
}

fn set_upstream_host(
    headers: &mut http::HeaderMap,
    route: &CompiledRoute,
    pool: &UpstreamPool,
    authority: &str,
    original: Option<HeaderValue>,
) {
    let host = match (&route.host_rewrite, pool.preserve_host, original) {
        (Some(rewrite), _, _) => Some(rewrite.clone()),
        (None, true, Some(original)) => Some(original),
        _ => HeaderValue::from_str(authority).ok(),
    };
    if let Some(host) = host {
        headers.insert(HOST, host);
    }
}
