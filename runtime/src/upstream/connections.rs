//! Keep-alive HTTP/1.1 connections to one plain-HTTP target.
//!
//! The request's own task checks a connection out, sends on it and gets it back when the
//! response body has been read to its end, so a request costs no pool-wide lookup. Requests
//! without a body take the direct path of [`super::direct`], with no task besides the request's.
//! Others go through a hyper connection, driven by one task for its whole life. HTTPS and h2c
//! upstreams use the general client in [`super::client`] instead.
//!
//! Idle connections are kept newest first, at most [`MAX_IDLE`] per target and kind, and dropped
//! once idle for [`IDLE_TIMEOUT`] or closed by the target.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::direct::{self, DirectConnection, DirectError};
use crate::proxy::body::ProxyBody;

/// Idle connections kept per target; more are closed as they come back.
const MAX_IDLE: usize = 512;

/// Idle time after which a kept connection is closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Failure of an exchange with the target.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("connecting to the target failed: {0}")]
    Connect(std::io::Error),
    #[error("connecting to the target timed out")]
    ConnectTimeout,
    #[error("HTTP handshake with the target failed: {0}")]
    Handshake(hyper::Error),
    #[error("the exchange with the target failed: {0}")]
    Exchange(hyper::Error),
    #[error(transparent)]
    Direct(DirectError),
}

/// The idle connections of one target.
#[derive(Debug, Default)]
pub struct ConnectionPool {
    idle: IdleList<SendRequest<ProxyBody>>,
    direct_idle: IdleList<DirectConnection>,
}

impl ConnectionPool {
    /// Takes the most recently used open connection.
    fn take(&self) -> Option<SendRequest<ProxyBody>> {
        self.idle.take(|sender| !sender.is_closed())
    }

    /// Takes the most recently used direct connection that is still open.
    fn take_direct(&self) -> Option<DirectConnection> {
        self.direct_idle.take(DirectConnection::is_reusable)
    }

    /// Keeps a direct connection whose last response was read to its end.
    pub(super) fn put_direct(&self, connection: DirectConnection) {
        self.direct_idle.put(connection);
    }

    /// Keeps a connection for reuse.
    fn put(&self, sender: SendRequest<ProxyBody>) {
        if !sender.is_closed() {
            self.idle.put(sender);
        }
    }
}

/// Idle connections of one kind with the instant each became idle, the newest last.
#[derive(Debug)]
struct IdleList<T>(Mutex<Vec<(T, Instant)>>);

impl<T> Default for IdleList<T> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<T> IdleList<T> {
    /// Takes the newest connection that has not been idle too long and that `usable` accepts.
    /// The connections passed over are closed.
    fn take(&self, mut usable: impl FnMut(&mut T) -> bool) -> Option<T> {
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((mut connection, since)) = idle.pop() {
            if since.elapsed() < IDLE_TIMEOUT && usable(&mut connection) {
                return Some(connection);
            }
        }
        None
    }

    /// Keeps a connection. The oldest one is closed when it has been idle too long, and the new
    /// one when [`MAX_IDLE`] are kept already.
    fn put(&self, connection: T) {
        let now = Instant::now();
        let mut idle = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.first().is_some_and(|(_, since)| now.duration_since(*since) >= IDLE_TIMEOUT) {
            idle.remove(0);
        }
        if idle.len() < MAX_IDLE {
            idle.push((connection, now));
        }
    }
}

/// Sends `request` (origin-form URI, `Host` set) to `authority` on a kept connection, or on a
/// new one. A request that a kept connection refused before writing a byte of it (the target
/// closed the connection meanwhile) is sent again on the next connection, so it is never sent
/// twice. The response body hands the connection back when it has been read to its end.
pub async fn send(
    pool: &Arc<ConnectionPool>,
    authority: &str,
    connect_timeout: Duration,
    mut request: Request<ProxyBody>,
) -> Result<Response<ProxyBody>, ExchangeError> {
    if direct::suits(&request) {
        return send_direct(pool, authority, connect_timeout, &request).await;
    }
    loop {
        let (mut sender, reused) = match pool.take() {
            Some(sender) => (sender, true),
            None => (connect(authority, connect_timeout).await?, false),
        };
        if !sender.is_ready()
            && let Err(error) = sender.ready().await
        {
            if reused {
                continue;
            }
            return Err(ExchangeError::Exchange(error));
        }
        match sender.try_send_request(request).await {
            Ok(response) => return Ok(pooled_response(response, sender, pool)),
            Err(mut error) => match error.take_message() {
                Some(unsent) if reused => request = unsent,
                _ => return Err(ExchangeError::Exchange(error.into_error())),
            },
        }
    }
}

/// Sends a request without a body on a direct connection. A request that a kept connection
/// lost before any byte of the response (the target had just closed it) goes again on the next
/// connection when sending it twice is harmless.
async fn send_direct(
    pool: &Arc<ConnectionPool>,
    authority: &str,
    connect_timeout: Duration,
    request: &Request<ProxyBody>,
) -> Result<Response<ProxyBody>, ExchangeError> {
    let head = direct::encode_head(request);
    let retry_allowed = direct::is_idempotent(request.method());
    loop {
        let (connection, reused) = match pool.take_direct() {
            Some(connection) => (connection, true),
            None => (DirectConnection::new(connect_stream(authority, connect_timeout).await?), false),
        };
        match direct::exchange(connection, &head, request.method(), pool).await {
            Ok(response) => return Ok(response),
            Err(DirectError::ClosedBeforeResponse) if reused && retry_allowed => continue,
            Err(error) => return Err(ExchangeError::Direct(error)),
        }
    }
}

async fn connect_stream(authority: &str, timeout: Duration) -> Result<TcpStream, ExchangeError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(authority)).await {
        Err(_elapsed) => return Err(ExchangeError::ConnectTimeout),
        Ok(Err(error)) => return Err(ExchangeError::Connect(error)),
        Ok(Ok(stream)) => stream,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn connect(authority: &str, timeout: Duration) -> Result<SendRequest<ProxyBody>, ExchangeError> {
    let stream = connect_stream(authority, timeout).await?;
    let (sender, connection) =
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(ExchangeError::Handshake)?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

fn pooled_response(response: Response<Incoming>, sender: SendRequest<ProxyBody>, pool: &Arc<ConnectionPool>) -> Response<ProxyBody> {
    // After a protocol switch the connection belongs to the tunnel.
    let keep = response.status() != StatusCode::SWITCHING_PROTOCOLS;
    response.map(|inner| {
        let body = PooledBody { inner, connection: keep.then(|| (sender, pool.clone())) };
        http_body_util::BodyExt::boxed(body)
    })
}

/// A response body that returns its connection to the pool once read to the end. Dropped
/// early, it closes the connection with it, because the rest of the body is still unread.
struct PooledBody {
    inner: Incoming,
    connection: Option<(SendRequest<ProxyBody>, Arc<ConnectionPool>)>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((sender, pool)) = self.connection.take() {
            pool.put(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = crate::proxy::body::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => self.connection = None,
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.release(),
            _ => {}
        }
        polled.map(|frame| frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}
