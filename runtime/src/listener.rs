//! Client listeners: TCP accept loops serving HTTP/1.1 and HTTP/2 (h2c by prior knowledge, or
//! ALPN over TLS), with graceful draining.

mod field_values;
mod head_answers;
pub mod head_timeout;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;

use crate::proxy::{ConnectionInfo, Gateway, Unrouted, Unstarted, handle};
use head_timeout::{ConnectionActivity, TimedStream};

/// Maximum request head size that hyper buffers, in bytes. Heads under it but over
/// `settings.limits.maxHeaderBytes` get a problem+json 431 from the proxy; heads over it get a
/// bare 431 from hyper.
const MAX_HEAD_BUFFER_BYTES: usize = 256 * 1024;

/// Per-connection timers, read from the spec at start.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Counts open client connections and signals them to drain, then, when the drain ends, to
/// close with their requests unfinished.
#[derive(Debug)]
pub struct Drain {
    signal: watch::Sender<bool>,
    abandon: watch::Sender<bool>,
    active: AtomicUsize,
    closed: Notify,
}

impl Default for Drain {
    fn default() -> Self {
        Self { signal: watch::channel(false).0, abandon: watch::channel(false).0, active: AtomicUsize::new(0), closed: Notify::new() }
    }
}

impl Drain {
    pub fn start(&self) {
        self.signal.send_replace(true);
    }

    /// Closes every connection still open, once the drain has ended (its timeout passed, or a
    /// second signal came).
    pub fn abandon(&self) {
        self.abandon.send_replace(true);
    }

    /// Returns whether the drain has ended and connections are being closed.
    pub fn is_abandoned(&self) -> bool {
        *self.abandon.borrow()
    }

    /// Waits until the drain has ended.
    async fn abandoned(&self) {
        let mut abandoned = self.abandon.subscribe();
        // `wait_for` fails only when the sender is dropped, and `self` owns it during the wait.
        let _ = abandoned.wait_for(|abandoned| *abandoned).await;
    }

    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Waits until every connection has closed.
    pub async fn wait(&self) {
        loop {
            let notified = self.closed.notified();
            if self.active_connections() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn is_draining(&self) -> bool {
        *self.signal.borrow()
    }

    /// Counts one more open connection until the returned value is dropped, for connections
    /// that outlive their HTTP exchange, such as WebSocket tunnels.
    pub fn hold(self: &Arc<Self>) -> DrainHold {
        self.active.fetch_add(1, Ordering::SeqCst);
        DrainHold(self.clone())
    }
}

/// One open connection counted by [`Drain`] until dropped.
#[derive(Debug)]
pub struct DrainHold(Arc<Drain>);

impl DrainHold {
    /// Waits until the drain has ended and the connection has to close.
    pub async fn abandoned(&self) {
        self.0.abandoned().await;
    }
}

impl Drop for DrainHold {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

/// Accepts connections on `listener` until draining starts.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
    settings: ConnectionSettings,
    drain: Arc<Drain>,
) {
    let builder = Arc::new(connection_builder());
    let mut draining = drain.signal.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = draining.wait_for(|draining| *draining) => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        drain.active.fetch_add(1, Ordering::SeqCst);
        let task = serve_connection(stream, peer, tls.clone(), gateway.clone(), settings, builder.clone(), drain.clone());
        let connection_drain = drain.clone();
        tokio::spawn(async move {
            task.await;
            connection_drain.active.fetch_sub(1, Ordering::SeqCst);
            connection_drain.closed.notify_waiters();
        });
    }
}

fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).max_buf_size(MAX_HEAD_BUFFER_BYTES).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_header_list_size(MAX_HEAD_BUFFER_BYTES as u32);
    builder
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
    settings: ConnectionSettings,
    builder: Arc<auto::Builder<TokioExecutor>>,
    drain: Arc<Drain>,
) {
    let activity = Arc::new(ConnectionActivity::default());
    let idle = IdleWatch {
        activity: activity.clone(),
        opened: crate::upstream::now_millis(),
        timeout: settings.idle_timeout,
        first_request_timeout: settings.header_timeout.min(settings.idle_timeout),
    };
    // Read once per connection: a configuration swap applies from the next connection on.
    let request_id_header = gateway.store.current().request_id_header.clone();
    let info = Arc::new(ConnectionInfo::new(peer, tls.is_some(), request_id_header.clone()));
    let service_activity = activity.clone();
    let service_gateway = gateway.clone();
    let service = service_fn(move |request| {
        let guard = service_activity.begin();
        let unstarted = Unstarted::new(service_gateway.clone(), &request, info.peer.ip());
        let activity = service_activity.clone();
        let info = info.clone();
        async move {
            // A bug that panics while handling a request must cost that request, not the
            // connection: the client gets a 500 instead of a closed socket.
            let handled =
                futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(handle(unstarted, &info, request, guard))).await;
            let response = match handled {
                Ok(result) => result?,
                Err(_) => panic_response(&info.request_id_header),
            };
            if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                activity.mark_switched();
            }
            Ok::<_, Infallible>(response)
        }
    });

    let ended = match tls {
        None => {
            let io = TimedStream::new(stream, activity.clone(), settings.header_timeout, settings.idle_timeout, true, request_id_header);
            drive(builder.serve_connection_with_upgrades(TokioIo::new(io), service), &drain, &idle).await
        }
        Some(acceptor) => {
            let handshake = tokio::time::timeout(settings.header_timeout, acceptor.accept(stream)).await;
            let stream = match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, client.addr = %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(client.addr = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let is_http1 = stream.get_ref().1.alpn_protocol() != Some(b"h2");
            if !is_http1 {
                activity.mark_http2();
            }
            let io =
                TimedStream::new(stream, activity.clone(), settings.header_timeout, settings.idle_timeout, is_http1, request_id_header);
            drive(builder.serve_connection_with_upgrades(TokioIo::new(io), service), &drain, &idle).await
        }
    };
    record_rejected_head(&gateway, &activity, peer, idle.opened, ended.as_deref());
}

/// Builds the 500 for a request whose handler panicked. It carries the request ID of the
/// request's access-log line, or a new one when the panic came before the request had an ID.
fn panic_response(request_id_header: &http::HeaderName) -> http::Response<crate::proxy::body::ProxyBody> {
    let request_id = crate::proxy::take_panicked_request_id().unwrap_or_else(crate::observe::new_request_id);
    let mut response = crate::error::typed_problem_response(
        "urn:gatectl:problem:internal-error",
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "the gateway failed while handling the request; its log has the details",
        &request_id,
    );
    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(request_id_header.clone(), value);
    }
    response
}

/// Logs and counts a request that got its response before it reached the proxy. Its head was
/// rejected by hyper's HTTP/1 parser (400, 414 or 431, written by hyper), or did not arrive
/// within the header timeout (408, written by [`TimedStream`]). No head was parsed, so the
/// access-log line has an empty method, path and route. Its latency is the time the connection
/// waited for that head.
fn record_rejected_head(
    gateway: &Gateway,
    activity: &ConnectionActivity,
    peer: SocketAddr,
    opened: u64,
    ended: Option<&(dyn std::error::Error + Send + Sync + 'static)>,
) {
    // Only these parse errors get a response from hyper: an HTTP/2 preface after an HTTP/1.1
    // request, a bad status line or an internal error close the connection without one.
    let parse_error = ended
        .and_then(|error| error.downcast_ref::<hyper::Error>())
        .filter(|error| error.is_parse() && !error.is_parse_version_h2() && !error.is_parse_status())
        .filter(|error| !error.to_string().starts_with("internal error"));
    let (status, request_id, bytes_out) = match (parse_error, activity.head_timeout_answer()) {
        (Some(error), _) => {
            // The stream wrote the gateway's response in place of hyper's. Without that record,
            // hyper's own response had another shape and went out uncounted.
            let (status, request_id, bytes_out) = match activity.rejection_answer() {
                Some((status, request_id, size)) => (status, request_id.to_owned(), size),
                None => {
                    let status = match error.to_string().as_str() {
                        "URI too long" => 414,
                        _ if error.is_parse_too_large() => 431,
                        _ => 400,
                    };
                    (status, crate::observe::new_request_id(), 0)
                }
            };
            tracing::debug!(%error, request.id = %request_id, client.addr = %peer, status, "request head rejected by the HTTP/1 parser");
            (status, request_id, bytes_out)
        }
        (None, Some((request_id, size))) => (408, request_id.to_owned(), size),
        (None, None) => return,
    };
    let unrouted = Unrouted {
        request_id,
        client: peer.ip(),
        method: None,
        path: String::new(),
        status,
        bytes_out,
        waited: activity.waiting_for(opened),
    };
    unrouted.record(gateway);
}

/// State a connection's driver reads to close an idle HTTP/2 connection.
struct IdleWatch {
    activity: Arc<ConnectionActivity>,
    /// When the connection was accepted, in milliseconds of `now_millis`.
    opened: u64,
    timeout: Duration,
    /// Time an HTTP/2 connection has from accept to start its first request: the header timeout.
    first_request_timeout: Duration,
}

impl IdleWatch {
    /// Returns how long the connection may stay without a request in progress now.
    fn limit(&self) -> Duration {
        if self.activity.has_had_request() { self.timeout } else { self.first_request_timeout }
    }
}

/// Runs a connection to its end, and shuts it down gracefully when draining starts (requests in
/// progress finish, then the connection closes) or when an HTTP/2 connection has had no request
/// in progress for the idle timeout, or has started none within the header timeout. HTTP/1.1
/// connections are timed by `TimedStream`. A connection whose request body stalled after its
/// response is closed at once, on the handler's request.
///
/// Returns the error the connection ended with, if any.
async fn drive<C>(connection: C, drain: &Drain, idle: &IdleWatch) -> Option<Box<dyn std::error::Error + Send + Sync>>
where
    C: hyper_util::server::graceful::GracefulConnection<Error = Box<dyn std::error::Error + Send + Sync>>,
{
    let mut draining = drain.signal.subscribe();
    tokio::pin!(connection);
    let idle_check = tokio::time::sleep(idle.first_request_timeout);
    tokio::pin!(idle_check);
    let mut closing_idle = false;
    if drain.is_draining() {
        connection.as_mut().graceful_shutdown();
    } else {
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = &result {
                        tracing::debug!(%error, "client connection ended with an error");
                    }
                    return result.err();
                }
                _ = draining.wait_for(|draining| *draining) => {
                    connection.as_mut().graceful_shutdown();
                    break;
                }
                () = idle.activity.aborted() => return None,
                () = &mut idle_check => match idle.activity.http2_idle_for(idle.opened) {
                    Some(idle_for) if idle_for >= idle.limit() => {
                        if idle.activity.has_had_request() {
                            tracing::debug!(idle = ?idle_for, "closing an idle HTTP/2 connection");
                        } else {
                            tracing::debug!(open = ?idle_for, "closing an HTTP/2 connection that started no request within the header timeout");
                        }
                        connection.as_mut().graceful_shutdown();
                        closing_idle = true;
                        break;
                    }
                    Some(idle_for) => idle_check.as_mut().reset(tokio::time::Instant::now() + (idle.limit() - idle_for)),
                    None => idle_check.as_mut().reset(tokio::time::Instant::now() + idle.limit()),
                },
            }
        }
    }
    if closing_idle {
        // The graceful close waits for the client to acknowledge a PING. No request is in
        // progress, so a client that never does is cut off after the header timeout.
        if tokio::time::timeout(idle.first_request_timeout, connection).await.is_err() {
            tracing::debug!("closing an HTTP/2 connection whose client did not acknowledge the close");
        }
        return None;
    }
    let result = tokio::select! {
        result = connection => result,
        () = drain.abandoned() => {
            tracing::debug!("closing a connection still in use at the end of the drain");
            return None;
        }
    };
    if let Err(error) = &result {
        tracing::debug!(%error, "client connection ended with an error while shutting down");
    }
    result.err()
}
