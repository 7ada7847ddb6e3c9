//! The life of one request until its response exists: the access-log line and count of a
//! request that ends before it, because its client left or its handler panicked.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use super::{Gateway, RequestFacts, milliseconds};
use crate::config::CompiledConfig;
use crate::observe::TraceContext;
use crate::observe::access_log::AccessRecord;

/// A request from its start until its response exists. Dropped before that, because the client
/// closed the connection, the handler panicked or the end of the drain closed the connection, it
/// writes the access-log line and the count that the response body would have written. The
/// status is 499, the code nginx logs for a client that closed the request, 500 after a panic,
/// or 503 at the end of the drain.
pub(super) struct Exchange<'a> {
    pub(super) gateway: &'a Gateway,
    pub(super) config: &'a CompiledConfig,
    pub(super) started: Instant,
    pub(super) request_id: String,
    pub(super) trace: TraceContext,
    pub(super) method: http::Method,
    pub(super) facts: RequestFacts,
    /// Set once the response exists; from then on its body reports the request.
    pub(super) answered: bool,
}

thread_local! {
    /// The request ID of the exchange dropped by the panic unwinding on this thread, kept for
    /// the 500 response that the connection's `catch_unwind` sends next, on the same thread.
    static PANICKED_REQUEST_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Takes the request ID of the request whose handler panicked on this thread, so that the 500
/// response carries the ID of its access-log line. `None` when the panic came before the
/// request had an ID.
pub fn take_panicked_request_id() -> Option<String> {
    PANICKED_REQUEST_ID.with(|cell| cell.borrow_mut().take())
}

impl Drop for Exchange<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        // A future that panics drops its variables while the panic unwinds through its poll.
        let panicking = std::thread::panicking();
        if panicking {
            PANICKED_REQUEST_ID.with(|cell| *cell.borrow_mut() = Some(self.request_id.clone()));
        }
        let status = dropped_status(panicking, self.gateway);
        let elapsed = self.started.elapsed();
        let compiled = self.facts.route.map(|index| &self.config.routes[index]);
        let route = compiled.map_or("", |route| route.name.as_str());
        match status {
            499 => tracing::debug!(request.id = %self.request_id, route, "the client closed the connection before the response"),
            503 => tracing::warn!(request.id = %self.request_id, route, "the end of the drain closed the connection before the response"),
            _ => {}
        }
        self.gateway.metrics.request_finished(
            route,
            compiled.map(|route| &route.metrics),
            &self.facts.consumer,
            status,
            elapsed.as_secs_f64(),
        );
        if !self.gateway.access_log.is_enabled() {
            return;
        }
        let facts = &mut self.facts;
        self.gateway.access_log.record(AccessRecord {
            timestamp: SystemTime::now(),
            request_id: std::mem::take(&mut self.request_id),
            trace: std::mem::take(&mut self.trace),
            client_address: facts.client_ip,
            consumer: std::mem::take(&mut facts.consumer),
            route: route.to_owned(),
            upstream_target: std::mem::take(&mut facts.target),
            method: Some(self.method.clone()),
            path: std::mem::take(&mut facts.path),
            path_parameters: std::mem::take(&mut facts.path_parameters),
            status,
            bytes_in: facts.request_body.as_ref().map_or(0, |body| body.received.load(Ordering::Relaxed)),
            bytes_out: 0,
            total_latency_ms: milliseconds(elapsed),
            upstream_latency_ms: facts.upstream_latency.map(milliseconds),
            response_incomplete: false,
        });
    }
}

/// Panics when the request carries [`tests::PANIC_HEADER`], so that tests can exercise what a
/// bug that panics in a handler costs.
#[cfg(test)]
pub(super) fn panic_on_test_header<B>(request: &http::Request<B>) {
    if request.headers().contains_key(tests::PANIC_HEADER) {
        panic!("a deliberate panic requested by a test");
    }
}

/// A request that hyper has handed over and whose handling has not started. hyper drops such a
/// request unstarted when its client closes right after the head. The drop then writes a 499
/// line with the head's method and path, and no route, which is not known yet.
pub struct Unstarted {
    gateway: Option<Arc<Gateway>>,
    client: IpAddr,
    method: http::Method,
    uri: http::Uri,
    received: Instant,
}

impl Unstarted {
    pub fn new(gateway: Arc<Gateway>, request: &http::Request<hyper::body::Incoming>, client: IpAddr) -> Self {
        Self { gateway: Some(gateway), client, method: request.method().clone(), uri: request.uri().clone(), received: Instant::now() }
    }

    /// Starts the handling: returns the gateway and when the request was received.
    pub(super) fn start(mut self) -> (Arc<Gateway>, Instant) {
        let gateway = self.gateway.take().expect("a request starts once");
        (gateway, self.received)
    }
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        let Some(gateway) = self.gateway.take() else { return };
        let request_id = crate::observe::new_request_id();
        let status = dropped_status(std::thread::panicking(), &gateway);
        if status == 499 {
            tracing::debug!(request.id = %request_id, "the client closed the connection before its request started");
        }
        let unrouted = Unrouted {
            request_id,
            client: self.client,
            method: Some(self.method.clone()),
            path: self.uri.path().to_owned(),
            status,
            bytes_out: 0,
            waited: self.received.elapsed(),
        };
        unrouted.record(&gateway);
    }
}

/// Returns the status logged for a request dropped before its response existed.
fn dropped_status(panicking: bool, gateway: &Gateway) -> u16 {
    if panicking {
        500
    } else if gateway.drain.is_abandoned() {
        503
    } else {
        499
    }
}

/// A request answered before routing, for its access-log line and its count.
pub struct Unrouted {
    pub request_id: String,
    pub client: IpAddr,
    /// The method and path are empty when the head was never parsed.
    pub method: Option<http::Method>,
    pub path: String,
    pub status: u16,
    pub bytes_out: u64,
    /// Time from the request's arrival, or from the start of the wait for its head.
    pub waited: std::time::Duration,
}

impl Unrouted {
    /// Counts the request and writes its access-log line, with an empty route and consumer.
    pub fn record(self, gateway: &Gateway) {
        gateway.metrics.request_finished("", None, "", self.status, self.waited.as_secs_f64());
        if !gateway.access_log.is_enabled() {
            return;
        }
        gateway.access_log.record(AccessRecord {
            timestamp: SystemTime::now(),
            request_id: self.request_id,
            trace: TraceContext::from_header(None),
            client_address: self.client,
            consumer: String::new(),
            route: String::new(),
            upstream_target: String::new(),
            method: self.method,
            path: self.path,
            path_parameters: Vec::new(),
            status: self.status,
            bytes_in: 0,
            bytes_out: self.bytes_out,
            total_latency_ms: milliseconds(self.waited),
            upstream_latency_ms: None,
            response_incomplete: false,
        });
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::observe::access_log::AccessLogTarget;
    use crate::{Runtime, RuntimeOptions};

    /// A request with this header makes its handler panic once its exchange exists.
    pub(in crate::proxy) const PANIC_HEADER: &str = "x-gatectl-test-panic";

    const SPEC: &str = "apiVersion: gatectl.dev/v1
kind: Gateway
upstreams:
  - name: app
    targets: [{ host: 127.0.0.1, port: 9 }]
routes:
  - name: all
    match: { path: { prefix: / } }
    upstream: app
";

    /// Records, when dropped, whether a panic was unwinding.
    struct Probe(Arc<AtomicBool>);

    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.store(std::thread::panicking(), Ordering::SeqCst);
        }
    }

    /// The 500 of [`super::Exchange`] relies on this: a request future that panics drops its
    /// variables while the panic unwinds, before the connection's `catch_unwind` returns.
    #[tokio::test]
    async fn panicking_future_drops_variables_while_unwinding() {
        let seen = Arc::new(AtomicBool::new(false));
        let probe = Probe(seen.clone());
        let request = async move {
            let _probe = probe;
            tokio::task::yield_now().await;
            panic!("a deliberate panic in a test handler");
        };

        let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(request)).await;

        assert!(result.is_err());
        assert!(seen.load(Ordering::SeqCst), "the probe was dropped after the panic had ended");
    }

    #[tokio::test]
    async fn panic_response_has_request_id_of_log_line() {
        let directory = tempfile::tempdir().unwrap();
        let log = directory.path().join("access.log");
        let loaded = gatectl_spec::load::load_str("spec.yaml", SPEC);
        let options = RuntimeOptions {
            spec: Some(loaded.spec.expect("the test spec is valid")),
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            access_log: Some(AccessLogTarget::File(log.clone())),
            ..RuntimeOptions::default()
        };
        let runtime = Runtime::start(options).await.unwrap();

        let mut stream = tokio::net::TcpStream::connect(runtime.proxy_addresses()[0]).await.unwrap();
        let request = format!("GET /a HTTP/1.1\r\nHost: test\r\n{PANIC_HEADER}: yes\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let line = first_log_line(&log).await;

        assert!(response.starts_with("HTTP/1.1 500 "), "{response}");
        let header_id = response.lines().find_map(|line| line.strip_prefix("x-request-id: ")).expect("a request ID header");
        assert!(response.contains(&format!("\"requestId\":\"{header_id}\"")), "{response}");
        assert_eq!(line["requestId"], header_id);
        assert_eq!(line["status"], 500);
    }

    /// Reads the access log's first whole line, waiting up to five seconds for it.
    async fn first_log_line(path: &std::path::Path) -> serde_json::Value {
        for _ in 0..100 {
            let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
            if let Some((line, _)) = text.split_once('\n') {
                return serde_json::from_str(line).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the access log got no line within five seconds");
    }
}
