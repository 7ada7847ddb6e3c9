//! Connection timers for HTTP/1.1 that hyper does not provide in the form the gateway needs.
//! A client that starts a request head and does not finish it within the header timeout gets a
//! `408` problem+json response before the connection closes. A keep-alive connection that stays
//! idle (no byte of a next request) for the idle timeout is closed without a response.
//!
//! The first request on a connection is timed from accept. HTTP/2 connections (prior knowledge
//! or ALPN `h2`) are not timed here: the listener closes them gracefully when they start no
//! request within the header timeout of accept, or stay idle for the idle timeout, from
//! [`ConnectionActivity::http2_idle_for`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::field_values::FieldValueCleaner;
use crate::upstream::now_millis;

/// Requests in progress on one connection, shared by the connection's IO and its service.
#[derive(Debug, Default)]
pub struct ConnectionActivity {
    in_progress: AtomicUsize,
    /// Set after a `101 Switching Protocols` response, because the stream is no longer HTTP/1.1.
    switched: AtomicBool,
    /// Set once the connection is known to speak HTTP/2, which these stream timers leave alone.
    http2: AtomicBool,
    /// When the last request in progress ended, in milliseconds of [`now_millis`]; 0 before
    /// the first request.
    idle_since: AtomicU64,
}

/// Marks a request in progress until dropped.
pub struct ActivityGuard(Arc<ConnectionActivity>);

impl ConnectionActivity {
    pub fn begin(self: &Arc<Self>) -> ActivityGuard {
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        ActivityGuard(self.clone())
    }

    pub fn mark_switched(&self) {
        self.switched.store(true, Ordering::SeqCst);
    }

    pub fn mark_http2(&self) {
        self.http2.store(true, Ordering::SeqCst);
    }

    /// Tells whether a request has started on this connection.
    pub fn has_had_request(&self) -> bool {
        self.in_progress.load(Ordering::SeqCst) > 0 || self.idle_since.load(Ordering::SeqCst) != 0
    }

    /// Returns how long an HTTP/2 connection has had no request in progress, or `None` while a
    /// request is in progress or for other protocols. `opened` is when the connection was
    /// accepted, in milliseconds of [`now_millis`].
    pub fn http2_idle_for(&self, opened: u64) -> Option<Duration> {
        if !self.http2.load(Ordering::SeqCst) || self.in_progress.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = self.idle_since.load(Ordering::SeqCst).max(opened);
        Some(Duration::from_millis(now_millis().saturating_sub(since)))
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        if self.0.in_progress.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle_since.store(now_millis(), Ordering::SeqCst);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the rest of a request head.
    Head,
    /// Between requests, nothing of the next one received.
    Idle,
    /// A request is being served.
    Busy,
    /// Writing the 408 response. The offset counts the bytes written.
    Answering(usize),
    /// HTTP/2 or the connection is closing: no timers.
    Off,
}

/// Wraps a client stream with the head and idle timers, and cleans the header values of each
/// head it waits for (see [`FieldValueCleaner`]).
pub struct TimedStream<S> {
    inner: S,
    activity: Arc<ConnectionActivity>,
    phase: Phase,
    head_timeout: Duration,
    idle_timeout: Duration,
    /// The instant at which the current phase times out.
    deadline: Instant,
    /// A timer that fires at or before `deadline`. Phase changes only move `deadline`. The timer
    /// is moved only when it fires early or would fire late, so a keep-alive request whose head
    /// arrives in one read does not touch it.
    sleep: Pin<Box<Sleep>>,
    seen_first_bytes: bool,
    answer: Vec<u8>,
    cleaner: FieldValueCleaner,
}

impl<S> TimedStream<S> {
    pub fn new(inner: S, activity: Arc<ConnectionActivity>, head_timeout: Duration, idle_timeout: Duration, enabled: bool) -> Self {
        Self {
            inner,
            activity,
            phase: if enabled { Phase::Head } else { Phase::Off },
            head_timeout,
            idle_timeout,
            deadline: Instant::now() + head_timeout,
            sleep: Box::pin(tokio::time::sleep(head_timeout)),
            seen_first_bytes: false,
            answer: Vec::new(),
            cleaner: FieldValueCleaner::default(),
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        let timeout = if phase == Phase::Idle { self.idle_timeout } else { self.head_timeout };
        self.deadline = Instant::now() + timeout;
    }

    /// Returns whether the current phase's deadline has passed, arming the timer to wake the
    /// task at the deadline otherwise.
    fn poll_deadline(&mut self, context: &mut Context<'_>) -> bool {
        loop {
            if self.sleep.deadline() > self.deadline {
                self.sleep.as_mut().reset(self.deadline);
            }
            if self.sleep.as_mut().poll(context).is_pending() {
                return false;
            }
            if Instant::now() >= self.deadline {
                return true;
            }
            // The timer was set for an earlier phase and fired before this one's deadline.
            self.sleep.as_mut().reset(self.deadline);
        }
    }
}

fn timeout_answer() -> Vec<u8> {
    let body = format!(
        "{{\"type\":\"urn:gatectl:problem:request-timeout\",\"title\":\"Request Timeout\",\"status\":408,\"detail\":\"the request head was not received in time\",\"requestId\":\"{}\"}}",
        crate::observe::new_request_id()
    );
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.activity.switched.load(Ordering::SeqCst) && !matches!(this.phase, Phase::Answering(_)) {
            this.phase = Phase::Off;
        }
        let busy = this.activity.in_progress.load(Ordering::SeqCst) > 0;
        match this.phase {
            Phase::Off => return Pin::new(&mut this.inner).poll_read(context, buffer),
            Phase::Answering(written) => return this.poll_answer(context, written),
            Phase::Busy | Phase::Head | Phase::Idle if busy => this.phase = Phase::Busy,
            Phase::Busy => this.enter(Phase::Idle),
            Phase::Head | Phase::Idle => {}
        }

        let before = buffer.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(context, buffer);
        if let Poll::Ready(Ok(())) = &result {
            let received = &buffer.filled()[before..];
            if !this.seen_first_bytes && !received.is_empty() {
                this.seen_first_bytes = true;
                if received.starts_with(b"PRI * HTTP/2") {
                    this.phase = Phase::Off;
                    this.activity.mark_http2();
                }
            }
            if this.phase == Phase::Idle && !received.is_empty() {
                this.enter(Phase::Head);
                this.cleaner.restart();
            }
            if this.phase == Phase::Head {
                this.cleaner.clean(&mut buffer.filled_mut()[before..]);
            }
            return result;
        }
        if result.is_pending() && matches!(this.phase, Phase::Head | Phase::Idle) && this.poll_deadline(context) {
            if this.phase == Phase::Idle {
                this.phase = Phase::Off;
                return Poll::Ready(Ok(()));
            }
            tracing::debug!("request head timed out; sending 408");
            this.answer = timeout_answer();
            this.phase = Phase::Answering(0);
            return this.poll_answer(context, 0);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> TimedStream<S> {
    /// Writes the 408 response, then reports end of input so hyper closes the connection.
    fn poll_answer(&mut self, context: &mut Context<'_>, mut written: usize) -> Poll<std::io::Result<()>> {
        while written < self.answer.len() {
            let count = ready!(Pin::new(&mut self.inner).poll_write(context, &self.answer[written..]))?;
            if count == 0 {
                break;
            }
            written += count;
            self.phase = Phase::Answering(written);
        }
        ready!(Pin::new(&mut self.inner).poll_flush(context))?;
        let _ = Pin::new(&mut self.inner).poll_shutdown(context);
        self.phase = Phase::Off;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, context: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

use std::future::Future;
