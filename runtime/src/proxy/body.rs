//! Body types: everything is streamed frame by frame and never collected in memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

use crate::listener::head_timeout::ActivityHold;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response the gateway sends.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

pub fn full_body(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

pub fn empty_body() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The request body was larger than the route's limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the limit")]
pub struct BodyLimitExceeded;

/// The request body was not received within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimedOut;

/// Progress of a request body, shared with the proxy. The proxy reads it afterwards to learn
/// why the upstream exchange failed and how many bytes the access log reports.
#[derive(Debug, Default)]
pub struct BodyProgress {
    pub received: AtomicU64,
    pub exceeded: AtomicBool,
    pub timed_out: AtomicBool,
    /// The client's body failed: malformed chunked framing, or the client went away mid-body.
    pub client_failed: AtomicBool,
    /// The body has ended, failed, or been dropped unread.
    pub finished: AtomicBool,
    /// When `finished` was set, in milliseconds of [`crate::upstream::now_millis`].
    pub finished_at: AtomicU64,
    /// The last read found no data from the client yet: the client, not the upstream, is the
    /// one the body waits for.
    pub awaiting_client: AtomicBool,
}

impl BodyProgress {
    /// Marks the body finished, once, with the time.
    fn finish(&self) {
        if !self.finished.swap(true, Ordering::Relaxed) {
            self.finished_at.store(crate::upstream::now_millis(), Ordering::Relaxed);
        }
    }
}

/// Header names a client may not send as request trailers, because the gateway sets them
/// itself or they describe the message rather than its content (RFC 9110 section 6.5.1).
const DENIED_TRAILERS: [&str; 26] = [
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "content-type",
    "cookie",
    "expect",
    "forwarded",
    "host",
    "keep-alive",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// The filter of request trailers: it drops [`DENIED_TRAILERS`], the request ID header, the
/// identity headers the gateway sets, and the headers the request's `Connection` named.
#[derive(Clone, Debug)]
pub struct TrailerPolicy {
    pub request_id_header: http::HeaderName,
    pub identity_headers: Arc<[http::HeaderName]>,
    pub connection_named: Vec<http::HeaderName>,
}

impl TrailerPolicy {
    pub fn allows(&self, name: &http::HeaderName) -> bool {
        !DENIED_TRAILERS.contains(&name.as_str())
            && *name != self.request_id_header
            && !self.identity_headers.contains(name)
            && !self.connection_named.contains(name)
    }

    fn filter(&self, trailers: http::HeaderMap) -> http::HeaderMap {
        retain_trailers(trailers, |name| self.allows(name))
    }
}

/// Removes the trailers whose name `allows` rejects, every value of each.
fn retain_trailers(mut trailers: http::HeaderMap, allows: impl Fn(&http::HeaderName) -> bool) -> http::HeaderMap {
    let denied: Vec<http::HeaderName> = trailers.keys().filter(|name| !allows(name)).cloned().collect();
    for name in denied {
        trailers.remove(name);
    }
    trailers
}

/// A request body that counts bytes and fails as soon as the limit is crossed, or when the
/// rest of the body has not arrived within `timeout` of the first time it had to be waited for.
pub struct LimitedBody<B> {
    inner: B,
    limit: u64,
    timeout: Duration,
    /// Started when the body first has nothing ready, so that bodies read at once never touch
    /// the timer wheel.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    pub progress: Arc<BodyProgress>,
    trailers: TrailerPolicy,
    /// Counts the connection as busy until the body has ended.
    hold: Option<ActivityHold>,
}

impl<B: Body> LimitedBody<B> {
    /// Wraps a request body. An empty one is finished from the start, because an upstream
    /// client need not poll it before the response arrives.
    pub fn new(inner: B, limit: u64, timeout: Duration, trailers: TrailerPolicy) -> Self {
        let progress = Arc::<BodyProgress>::default();
        if inner.is_end_stream() {
            progress.finish();
        }
        Self { inner, limit, timeout, timer: None, progress, trailers, hold: None }
    }
}

impl<B> LimitedBody<B> {
    /// Keeps `hold` until the body has ended, failed or been dropped.
    pub fn holding(mut self, hold: Option<ActivityHold>) -> Self {
        self.hold = hold;
        self
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(context);
        if polled.is_ready() && (this.inner.is_end_stream() || !matches!(polled, Poll::Ready(Some(Ok(_))))) {
            this.hold = None;
            this.progress.finish();
        }
        this.progress.awaiting_client.store(polled.is_pending(), Ordering::Relaxed);
        let frame = match polled {
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if timer.as_mut().poll(context).is_ready() {
                    this.progress.timed_out.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
                }
                return Poll::Pending;
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => {
                this.progress.client_failed.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(error.into())));
            }
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let frame = match frame.into_trailers() {
            Ok(trailers) => return Poll::Ready(Some(Ok(Frame::trailers(this.trailers.filter(trailers))))),
            Err(frame) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let total = this.progress.received.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
            if total > this.limit {
                this.progress.exceeded.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for LimitedBody<B> {
    fn drop(&mut self) {
        self.progress.finish();
    }
}

/// The response body was not finished before the total timeout.
#[derive(Debug, thiserror::Error)]
#[error("the upstream response did not finish before the total timeout")]
pub struct TotalTimeout;

/// A response body that counts bytes, stops at the total deadline, and runs `on_finish` once
/// when it ends or is dropped (client gone), which is when the access-log line is written.
/// `on_finish` learns whether the body failed: the upstream broke it off, or the deadline did.
pub struct ObservedBody {
    inner: ProxyBody,
    deadline: Option<tokio::time::Instant>,
    /// The timer for `deadline`, started the first time the body has nothing ready, so that
    /// bodies that are ready at once never touch the timer wheel.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    bytes: u64,
    /// Called once with the number of body bytes sent and whether the body failed.
    on_finish: Option<Box<dyn FnOnce(u64, bool) + Send + Sync>>,
    /// An error of the inner body, held back for one poll (see `poll_frame`).
    held_error: Option<BoxError>,
}

impl ObservedBody {
    pub fn new(
        inner: ProxyBody,
        deadline: Option<tokio::time::Instant>,
        on_finish: impl FnOnce(u64, bool) + Send + Sync + 'static,
    ) -> Self {
        Self { inner, deadline, timer: None, bytes: 0, on_finish: Some(Box::new(on_finish)), held_error: None }
    }

    fn finish(&mut self, failed: bool) {
        if let Some(on_finish) = self.on_finish.take() {
            on_finish(self.bytes, failed);
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(error) = this.held_error.take() {
            this.finish(true);
            return Poll::Ready(Some(Err(error)));
        }
        let result = Pin::new(&mut this.inner).poll_frame(context);
        match result {
            Poll::Pending => {
                if this.timer.is_none()
                    && let Some(deadline) = this.deadline
                {
                    this.timer = Some(Box::pin(tokio::time::sleep_until(deadline)));
                }
                if let Some(timer) = &mut this.timer
                    && timer.as_mut().poll(context).is_ready()
                {
                    this.finish(true);
                    return Poll::Ready(Some(Err(Box::new(TotalTimeout))));
                }
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish(false);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                // In tests, hyper closed the connection on a body error without writing what it
                // held, so the head and the data before the error never reached the client.
                // Returning `Pending` once, with a wake-up, lets hyper write them out first.
                this.held_error = Some(error);
                context.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// A response body whose trailers lose the fields that describe one connection: hop-by-hop
/// headers, the headers the response's `Connection` named, and `Content-Length`. An HTTP/2
/// client would reset the stream for a connection-specific field in the trailers.
pub struct ResponseTrailerFilter {
    inner: ProxyBody,
    connection_named: Vec<http::HeaderName>,
}

impl ResponseTrailerFilter {
    pub fn new(inner: ProxyBody, connection_named: Vec<http::HeaderName>) -> Self {
        Self { inner, connection_named }
    }

    /// Tells whether a response trailer named `name` goes to the client.
    pub fn allows(name: &http::HeaderName, connection_named: &[http::HeaderName]) -> bool {
        !super::headers::is_hop_by_hop(name) && *name != http::header::CONTENT_LENGTH && !connection_named.contains(name)
    }
}

impl Body for ResponseTrailerFilter {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(context)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        let frame = match frame.into_trailers() {
            Ok(trailers) => Frame::trailers(retain_trailers(trailers, |name| Self::allows(name, &this.connection_named))),
            Err(frame) => frame,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
