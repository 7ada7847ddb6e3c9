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

use super::field_values::{FieldValueCleaner, HeadFacts};
use super::head_answers::{parser_rejection_status, rejection_answer, timeout_answer};
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
    /// Requests handed to the service so far.
    requests_started: AtomicU64,
    /// Facts the field-value cleaner learnt about recent heads, in slots by head index.
    heads: [AtomicU64; HEAD_SLOTS],
    /// Signalled to close the connection at once.
    abort: tokio::sync::Notify,
    /// The request ID and size of the 408 sent when a head did not arrive in time.
    head_timeout_answer: std::sync::OnceLock<(String, u64)>,
    /// The status, request ID and size of the response that replaced hyper's for a head its
    /// parser rejected.
    rejection_answer: std::sync::OnceLock<(u16, String, u64)>,
    /// A head declared a `Content-Length` too large for hyper. The cleaner follows no head
    /// after such a one, so hyper's next rejection is for that head.
    length_too_large: AtomicBool,
    /// A head declared `Content-Length` values that disagree, which the cleaner does not
    /// follow past either.
    lengths_conflict: AtomicBool,
}

/// How many heads' facts are kept for their requests. A client that pipelines more requests
/// than this ahead of the one being served loses the facts of the oldest ones.
const HEAD_SLOTS: usize = 16;

/// Marks a request in progress until dropped.
pub struct ActivityGuard {
    hold: ActivityHold,
    /// The request's position on the connection, 0 for the first.
    index: u64,
}

/// Keeps the connection's request activity counted until dropped, for a request body that is
/// still being read after its response has ended.
pub struct ActivityHold(Arc<ConnectionActivity>);

impl ActivityGuard {
    /// Returns what the field-value cleaner learnt about this request's head, or the defaults
    /// when it did not follow the head (HTTP/2, or a stream it could not follow).
    pub fn head_facts(&self) -> HeadFacts {
        self.hold.0.head_facts(self.index)
    }

    /// Counts the request as in progress for as long as the returned value lives.
    pub fn hold(&self) -> ActivityHold {
        self.hold.0.hold()
    }

    /// Returns a handle that closes the connection, for use after the request has ended.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle(self.hold.0.clone())
    }
}

/// Closes a connection at once, without waiting for what is in progress on it.
pub struct AbortHandle(Arc<ConnectionActivity>);

impl AbortHandle {
    pub fn abort(&self) {
        self.0.abort.notify_one();
    }
}

impl ConnectionActivity {
    pub fn begin(self: &Arc<Self>) -> ActivityGuard {
        let index = self.requests_started.fetch_add(1, Ordering::SeqCst);
        ActivityGuard { hold: self.hold(), index }
    }

    /// Completes when an [`AbortHandle`] requests that the connection close.
    pub async fn aborted(&self) {
        self.abort.notified().await;
    }

    fn hold(self: &Arc<Self>) -> ActivityHold {
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        ActivityHold(self.clone())
    }

    /// Stores the facts of head `index`, tagged with the index so that a slot reused by a later
    /// head is not read for an earlier one.
    fn record_head(&self, index: u64, facts: HeadFacts) {
        if facts.length_too_large {
            self.length_too_large.store(true, Ordering::SeqCst);
        }
        if facts.lengths_conflict {
            self.lengths_conflict.store(true, Ordering::SeqCst);
        }
        let tag = (index + 1) & 0x7fff_ffff;
        let value = (tag << 33) | (u64::from(facts.request_id_cleaned) << 32) | u64::from(facts.raw_bytes);
        self.heads[(index % HEAD_SLOTS as u64) as usize].store(value, Ordering::SeqCst);
    }

    fn head_facts(&self, index: u64) -> HeadFacts {
        let value = self.heads[(index % HEAD_SLOTS as u64) as usize].load(Ordering::SeqCst);
        if value >> 33 != (index + 1) & 0x7fff_ffff {
            return HeadFacts::default();
        }
        HeadFacts { raw_bytes: value as u32, request_id_cleaned: value & (1 << 32) != 0, length_too_large: false, lengths_conflict: false }
    }

    pub fn mark_switched(&self) {
        self.switched.store(true, Ordering::SeqCst);
    }

    pub fn mark_http2(&self) {
        self.http2.store(true, Ordering::SeqCst);
    }

    /// Returns the request ID and size in bytes of the 408 this connection got when a head did
    /// not arrive in time, if it got one.
    pub fn head_timeout_answer(&self) -> Option<(&str, u64)> {
        self.head_timeout_answer.get().map(|(request_id, size)| (request_id.as_str(), *size))
    }

    /// Returns the status, request ID and size in bytes of the response that replaced hyper's
    /// for a head its parser rejected, if the connection got one.
    pub fn rejection_answer(&self) -> Option<(u16, &str, u64)> {
        self.rejection_answer.get().map(|(status, request_id, size)| (*status, request_id.as_str(), *size))
    }

    /// Returns how long the connection has waited for its next request head: since the last
    /// request ended, or since `opened` before the first.
    pub fn waiting_for(&self, opened: u64) -> Duration {
        let since = self.idle_since.load(Ordering::SeqCst).max(opened);
        Duration::from_millis(now_millis().saturating_sub(since))
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
        Some(self.waiting_for(opened))
    }
}

impl Drop for ActivityHold {
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
    /// HTTP/2 or an upgraded connection: no timers.
    Off,
    /// Timed out: every read reports the end of input, so the connection closes even when
    /// hyper reads again, as it does after the protocol detection saw no byte.
    Closed,
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
    /// How many bytes of the HTTP/2 connection preface the stream has started with so far, or
    /// `None` once the protocol is known.
    preface_matched: Option<usize>,
    answer: Vec<u8>,
    cleaner: FieldValueCleaner,
    /// The problem+json response being written in place of hyper's response to a rejected head.
    rewrite: Option<Rewrite>,
}

/// A response written in place of the one hyper is writing.
struct Rewrite {
    bytes: Vec<u8>,
    written: usize,
    /// How many of hyper's bytes it replaces, reported to hyper once it is written.
    replaces: usize,
}

/// The first bytes of every HTTP/2 connection (RFC 9113 section 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl<S> TimedStream<S> {
    /// Wraps `inner`. `enabled` is false for a connection already known to speak HTTP/2, and
    /// `request_id_header` names the header whose cleaning is reported to each request.
    pub fn new(
        inner: S,
        activity: Arc<ConnectionActivity>,
        head_timeout: Duration,
        idle_timeout: Duration,
        enabled: bool,
        request_id_header: http::HeaderName,
    ) -> Self {
        Self {
            inner,
            activity,
            // A new connection is idle until its first byte: one that sends nothing within the
            // header timeout is closed without a 408, as browsers' unused preconnections are.
            phase: if enabled { Phase::Idle } else { Phase::Off },
            head_timeout,
            idle_timeout,
            deadline: Instant::now() + head_timeout.min(idle_timeout),
            sleep: Box::pin(tokio::time::sleep(head_timeout.min(idle_timeout))),
            preface_matched: Some(0),
            answer: Vec::new(),
            cleaner: FieldValueCleaner::new(request_id_header),
            rewrite: None,
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.activity.switched.load(Ordering::SeqCst) && !matches!(this.phase, Phase::Answering(_) | Phase::Closed) {
            this.phase = Phase::Off;
        }
        let busy = this.activity.in_progress.load(Ordering::SeqCst) > 0;
        match this.phase {
            Phase::Off => return Pin::new(&mut this.inner).poll_read(context, buffer),
            Phase::Closed => return Poll::Ready(Ok(())),
            Phase::Answering(written) => return this.poll_answer(context, written),
            Phase::Busy | Phase::Head | Phase::Idle if busy => this.phase = Phase::Busy,
            Phase::Busy => this.enter(Phase::Idle),
            Phase::Head | Phase::Idle => {}
        }

        let before = buffer.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(context, buffer);
        if let Poll::Ready(Ok(())) = &result {
            let received = &mut buffer.filled_mut()[before..];
            if this.is_http2_preface(received) {
                this.phase = Phase::Off;
                this.activity.mark_http2();
                return result;
            }
            // Empty lines before a request line are ignored (RFC 9112 section 2.2), so they
            // leave the connection idle.
            if this.phase == Phase::Idle && received.iter().any(|&byte| byte != b'\r' && byte != b'\n') {
                this.enter(Phase::Head);
            }
            let activity = &this.activity;
            this.cleaner.clean(received, |index, facts| activity.record_head(index, facts));
            return result;
        }
        if result.is_pending() && matches!(this.phase, Phase::Head | Phase::Idle) && this.poll_deadline(context) {
            if this.phase == Phase::Idle {
                this.phase = Phase::Closed;
                return Poll::Ready(Ok(()));
            }
            tracing::debug!("request head timed out; sending 408");
            let request_id = crate::observe::new_request_id();
            this.answer = timeout_answer(this.cleaner.request_id_header(), &request_id);
            let _ = this.activity.head_timeout_answer.set((request_id, this.answer.len() as u64));
            this.phase = Phase::Answering(0);
            return this.poll_answer(context, 0);
        }
        result
    }
}

impl<S> TimedStream<S> {
    /// Tells whether `received` completes the HTTP/2 connection preface, which hyper may read in
    /// several parts. The bytes of a preface in progress are also valid HTTP/1.1 head bytes that
    /// the field-value cleaner leaves as they are, so they are cleaned like any others.
    fn is_http2_preface(&mut self, received: &[u8]) -> bool {
        let Some(matched) = self.preface_matched else { return false };
        let remaining = &HTTP2_PREFACE[matched..];
        let compared = received.len().min(remaining.len());
        if received[..compared] != remaining[..compared] {
            self.preface_matched = None;
            return false;
        }
        if compared == remaining.len() {
            self.preface_matched = None;
            return true;
        }
        self.preface_matched = Some(matched + compared);
        false
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
        self.phase = Phase::Closed;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> TimedStream<S> {
    /// Tells whether `data` is hyper's response to a head its parser rejected: its shape, on an
    /// HTTP/1.1 connection with no request in progress.
    fn is_parser_rejection(&self, data: &[u8]) -> Option<u16> {
        if matches!(self.phase, Phase::Off | Phase::Answering(_) | Phase::Closed) || self.activity.in_progress.load(Ordering::SeqCst) > 0 {
            return None;
        }
        parser_rejection_status(data)
    }

    /// Writes the gateway's response in place of hyper's `data`, and reports all of `data`
    /// written once it is.
    fn poll_rewrite(&mut self, context: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let Some(rewrite) = &mut self.rewrite else { return Poll::Ready(Ok(0)) };
        while rewrite.written < rewrite.bytes.len() {
            let count = ready!(Pin::new(&mut self.inner).poll_write(context, &rewrite.bytes[rewrite.written..]))?;
            if count == 0 {
                return Poll::Ready(Ok(0));
            }
            rewrite.written += count;
        }
        let replaces = rewrite.replaces;
        self.rewrite = None;
        Poll::Ready(Ok(replaces))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, context: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.rewrite.is_none()
            && let Some(status) = this.is_parser_rejection(data)
        {
            // hyper rejects a length above its maximum as a malformed or oversized head, and
            // lengths that disagree as oversized when one of them is above that maximum.
            let status = if this.activity.length_too_large.load(Ordering::SeqCst) {
                413
            } else if this.activity.lengths_conflict.load(Ordering::SeqCst) {
                400
            } else {
                status
            };
            let request_id = crate::observe::new_request_id();
            let bytes = rejection_answer(status, this.cleaner.request_id_header(), &request_id);
            let _ = this.activity.rejection_answer.set((status, request_id, bytes.len() as u64));
            this.rewrite = Some(Rewrite { bytes, written: 0, replaces: data.len() });
        }
        if this.rewrite.is_some() {
            return this.poll_rewrite(context);
        }
        Pin::new(&mut this.inner).poll_write(context, data)
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
        // A response to replace goes through `poll_write`, one buffer at a time.
        if let Some(first) = buffers.iter().find(|buffer| !buffer.is_empty())
            && (self.rewrite.is_some() || self.is_parser_rejection(first).is_some())
        {
            return self.poll_write(context, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

use std::future::Future;
