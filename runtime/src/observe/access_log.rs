//! The structured access log: one JSON line per request.
//!
//! The request path only pushes a record onto a bounded channel. A thread of its own formats the
//! records and writes them in batches, so neither formatting nor file I/O runs on a proxy worker.
//! While records keep coming, that thread does not wait on the channel: it sleeps for
//! [`BATCH_INTERVAL`] between batches. A thread waiting on the channel would have to be woken by
//! the worker for nearly every record, one system call each, which cost a fifth of the
//! throughput in the benchmark. Only after an interval without records does it wait again.
//! That thread shares the machine's cores with the workers, so [`format_line`] writes a line by
//! hand rather than through `serde_json`. It formats the date and time once per second, and it
//! copies strings that need no escaping as they are. The `Serialize` derive on [`AccessRecord`]
//! defines the same line, and the tests compare the two.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::Method;
use serde::Serialize;
use std::io::Write;

use super::TraceContext;

/// Records waiting to be written before new ones are dropped (and counted).
const CHANNEL_CAPACITY: usize = 16 * 1024;

/// Size of the buffer that gathers formatted lines. The buffer is written when it is full and
/// whenever the queue is empty.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Time between batches while records keep coming: the longest a line waits to be written.
const BATCH_INTERVAL: Duration = Duration::from_millis(5);

/// One access-log line. Fields that take formatting (time, addresses, trace ID) are kept in
/// their raw form and formatted by the writer thread, off the request path.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    #[serde(serialize_with = "rfc3339_millis")]
    pub timestamp: SystemTime,
    pub request_id: String,
    #[serde(rename = "traceId", serialize_with = "trace_id")]
    pub trace: TraceContext,
    pub client_address: IpAddr,
    /// The authenticated consumer; empty for anonymous requests.
    pub consumer: String,
    pub route: String,
    pub upstream_target: String,
    /// The request method; empty for a request rejected before its head was parsed.
    #[serde(serialize_with = "method_text")]
    pub method: Option<Method>,
    pub path: String,
    /// Path parameters of a template route by name, as written in the normalised path. Left out
    /// for other routes.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "parameter_map")]
    pub path_parameters: Vec<(Arc<str>, String)>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub total_latency_ms: f64,
    pub upstream_latency_ms: Option<f64>,
    /// Whether the response body ended early: the upstream broke it off or the total timeout
    /// cut it. `status` is still the status the head carried. Left out when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub response_incomplete: bool,
}

fn parameter_map<S: serde::Serializer>(parameters: &[(Arc<str>, String)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(parameters.iter().map(|(name, value)| (&**name, value)))
}

fn rfc3339_millis<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let time: chrono::DateTime<chrono::Utc> = (*time).into();
    serializer.collect_str(&time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn trace_id<S: serde::Serializer>(trace: &TraceContext, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(trace.trace_id())
}

fn method_text<S: serde::Serializer>(method: &Option<Method>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_ref().map_or("", Method::as_str))
}

/// The sending side of the access log, cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessLog {
    sender: Option<SyncSender<Message>>,
    dropped: Arc<AtomicU64>,
}

/// A message to the writer thread: a record from the request path, or a flush at shutdown.
#[expect(clippy::large_enum_variant, reason = "records are the messages sent per request, and boxing them would add an allocation to each")]
enum Message {
    Record(AccessRecord),
    /// Write every line queued before this message, then signal the sender.
    Flush(SyncSender<()>),
}

/// Destination of access-log lines.
#[derive(Clone, Debug)]
pub enum AccessLogTarget {
    Stdout,
    File(PathBuf),
    Disabled,
}

impl AccessLog {
    /// Opens the target and starts the writer thread.
    pub async fn start(target: AccessLogTarget) -> std::io::Result<Self> {
        let writer: Box<dyn Write + Send> = match &target {
            AccessLogTarget::Disabled => return Ok(Self { sender: None, dropped: Arc::default() }),
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::File(path) => {
                let path = path.clone();
                let file =
                    tokio::task::spawn_blocking(move || {
                        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|error| {
                            std::io::Error::new(error.kind(), format!("cannot open access log {}: {error}", path.display()))
                        })
                    })
                    .await
                    .map_err(std::io::Error::other)??;
                Box::new(file)
            }
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(CHANNEL_CAPACITY);
        std::thread::Builder::new().name("access-log".to_owned()).spawn(move || write_records(receiver, writer))?;
        Ok(Self { sender: Some(sender), dropped: Arc::default() })
    }

    /// Returns whether records are written anywhere, so that callers can skip building them.
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues a record; when the writer is behind, the record is dropped and counted.
    pub fn record(&self, record: AccessRecord) {
        let Some(sender) = &self.sender else { return };
        if sender.try_send(Message::Record(record)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "access-log writer is behind; records were dropped");
            }
        }
    }

    /// Waits until the lines of every record queued so far are written, or until `timeout`
    /// passes, so that the last requests' lines are not lost when the process exits.
    pub async fn flush(&self, timeout: Duration) {
        let Some(sender) = self.sender.clone() else { return };
        let waited = tokio::task::spawn_blocking(move || {
            let (done, finished) = std::sync::mpsc::sync_channel(1);
            // A full queue is waited on too: its records come before the flush.
            if sender.send(Message::Flush(done)).is_err() {
                return false;
            }
            finished.recv_timeout(timeout).is_ok()
        });
        if !matches!(waited.await, Ok(true)) {
            tracing::warn!(?timeout, "the access-log writer did not finish its queued lines in time");
        }
    }
}

/// Writes records until every sender is gone. When idle, it waits on the channel for the next
/// record. Then it writes what is queued, sleeps for [`BATCH_INTERVAL`], and goes on taking
/// batches until an interval passes without a record. A flush request writes the batch at once.
fn write_records(receiver: Receiver<Message>, writer: Box<dyn Write + Send>) {
    let mut output = Output { writer, batch: Vec::with_capacity(WRITE_BUFFER_BYTES), clock: SecondCache::default() };
    while let Ok(first) = receiver.recv() {
        output.take(first);
        loop {
            let disconnected = loop {
                match receiver.try_recv() {
                    Ok(message) => output.take(message),
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Disconnected) => break true,
                }
                if output.batch.len() >= WRITE_BUFFER_BYTES {
                    output.write();
                }
            };
            output.write();
            if disconnected {
                return;
            }

            let wake_at = Instant::now() + BATCH_INTERVAL;
            match receiver.recv_timeout(BATCH_INTERVAL) {
                // A record that arrives early waits with the others until the interval ends.
                Ok(message @ Message::Record(_)) => {
                    output.take(message);
                    std::thread::sleep(wake_at.saturating_duration_since(Instant::now()));
                }
                Ok(flush @ Message::Flush(_)) => output.take(flush),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// The writer thread's destination and the batch of lines not yet written to it.
struct Output {
    writer: Box<dyn Write + Send>,
    batch: Vec<u8>,
    clock: SecondCache,
}

impl Output {
    /// Adds a record's line to the batch, or writes the batch for a flush request.
    fn take(&mut self, message: Message) {
        match message {
            Message::Record(record) => format_line(&mut self.batch, &record, &mut self.clock),
            Message::Flush(done) => {
                self.write();
                // The shutdown may have stopped waiting, so the signal may find no receiver.
                let _ = done.send(());
            }
        }
    }

    fn write(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if let Err(error) = self.writer.write_all(&self.batch).and_then(|()| self.writer.flush()) {
            tracing::warn!(%error, "writing the access log failed");
        }
        self.batch.clear();
    }
}

/// The date and time to the second of the last line, which most lines share.
#[derive(Default)]
struct SecondCache {
    unix_second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `unix_second`.
    text: String,
}

impl SecondCache {
    /// Writes `time` as RFC 3339 in UTC with milliseconds, for example `2026-12-05T06:16:20.161Z`.
    fn write(&mut self, output: &mut Vec<u8>, time: SystemTime) {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since_epoch.as_secs();
        if self.unix_second != Some(second) {
            let time: chrono::DateTime<chrono::Utc> = (UNIX_EPOCH + std::time::Duration::from_secs(second)).into();
            self.text = time.format("%Y-%m-%dT%H:%M:%S").to_string();
            self.unix_second = Some(second);
        }
        output.extend_from_slice(self.text.as_bytes());
        let millis = since_epoch.subsec_millis();
        output.extend_from_slice(&[b'.', b'0' + (millis / 100) as u8, b'0' + (millis / 10 % 10) as u8, b'0' + (millis % 10) as u8, b'Z']);
    }
}

/// Appends one record as a JSON line, with the fields in the order of [`AccessRecord`].
fn format_line(output: &mut Vec<u8>, record: &AccessRecord, clock: &mut SecondCache) {
    let mut integer = itoa::Buffer::new();
    output.extend_from_slice(b"{\"timestamp\":\"");
    clock.write(output, record.timestamp);

    output.extend_from_slice(b"\",\"requestId\":");
    push_string(output, &record.request_id);
    output.extend_from_slice(b",\"traceId\":");
    push_string(output, record.trace.trace_id());
    output.extend_from_slice(b",\"clientAddress\":\"");
    let _ = write!(output, "{}", record.client_address);
    output.extend_from_slice(b"\",\"consumer\":");
    push_string(output, &record.consumer);
    output.extend_from_slice(b",\"route\":");
    push_string(output, &record.route);
    output.extend_from_slice(b",\"upstreamTarget\":");
    push_string(output, &record.upstream_target);
    output.extend_from_slice(b",\"method\":");
    push_string(output, record.method.as_ref().map_or("", Method::as_str));
    output.extend_from_slice(b",\"path\":");
    push_string(output, &record.path);
    if !record.path_parameters.is_empty() {
        output.extend_from_slice(b",\"pathParameters\":{");
        for (position, (name, value)) in record.path_parameters.iter().enumerate() {
            if position > 0 {
                output.push(b',');
            }
            push_string(output, name);
            output.push(b':');
            push_string(output, value);
        }
        output.push(b'}');
    }

    output.extend_from_slice(b",\"status\":");
    output.extend_from_slice(integer.format(record.status).as_bytes());
    output.extend_from_slice(b",\"bytesIn\":");
    output.extend_from_slice(integer.format(record.bytes_in).as_bytes());
    output.extend_from_slice(b",\"bytesOut\":");
    output.extend_from_slice(integer.format(record.bytes_out).as_bytes());

    output.extend_from_slice(b",\"totalLatencyMs\":");
    push_number(output, record.total_latency_ms);
    output.extend_from_slice(b",\"upstreamLatencyMs\":");
    match record.upstream_latency_ms {
        Some(latency) => push_number(output, latency),
        None => output.extend_from_slice(b"null"),
    }
    if record.response_incomplete {
        output.extend_from_slice(b",\"responseIncomplete\":true");
    }
    output.extend_from_slice(b"}\n");
}

/// Appends `text` as a JSON string, escaped as `serde_json` escapes it.
fn push_string(output: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        output.push(b'"');
        output.extend_from_slice(text.as_bytes());
        output.push(b'"');
    } else {
        // Only text with quotes, backslashes or control characters takes this path.
        let _ = serde_json::to_writer(&mut *output, text);
    }
}

/// Appends a latency as `serde_json` writes an `f64` (`null` when not finite).
fn push_number(output: &mut Vec<u8>, value: f64) {
    let _ = serde_json::to_writer(&mut *output, &value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(text: &str, upstream_latency_ms: Option<f64>, at_millis: u64) -> AccessRecord {
        AccessRecord {
            timestamp: UNIX_EPOCH + Duration::from_millis(at_millis),
            request_id: format!("id-{text}"),
            trace: TraceContext::from_header(None),
            client_address: "2001:db8::7".parse().unwrap(),
            consumer: text.to_owned(),
            route: "orders".to_owned(),
            upstream_target: "127.0.0.1:8080".to_owned(),
            // Left out for one text, as for a request rejected before its head was parsed.
            method: (!text.is_empty()).then(|| Method::from_bytes(b"PURGE").unwrap()),
            path: format!("/orders/{text}"),
            // Empty for one text, so the field is both written and left out.
            path_parameters: if text.is_empty() {
                Vec::new()
            } else {
                vec![(Arc::from("order-id"), text.to_owned()), (Arc::from("città"), "roma".to_owned())]
            },
            status: 503,
            bytes_in: 12_345_678_901,
            bytes_out: 0,
            total_latency_ms: 0.1 + 0.2,
            upstream_latency_ms,
            // Set for one text, so the field is both written and left out.
            response_incomplete: text.starts_with("plain"),
        }
    }

    #[test]
    fn hand_written_line_equals_serde_line() {
        let texts = ["plain", "quote\" and back\\slash", "control \u{1} \n \t \u{7f}", "ünïcødé ✓", ""];
        let mut clock = SecondCache::default();
        for (index, text) in texts.iter().enumerate() {
            for latency in [None, Some(1.5), Some(f64::NAN), Some(1e-7)] {
                // Times within one second and across seconds, so the cached second is reused and renewed.
                let at = 1_733_380_580_000 + index as u64 * 700 + 9;
                let record = record(text, latency, at);
                let mut line = Vec::new();
                format_line(&mut line, &record, &mut clock);
                let expected = serde_json::to_string(&record).unwrap() + "\n";
                assert_eq!(String::from_utf8(line).unwrap(), expected);
            }
        }
    }

    #[test]
    fn timestamp_keeps_leading_zeros_of_milliseconds() {
        let mut clock = SecondCache::default();
        let mut output = Vec::new();
        clock.write(&mut output, UNIX_EPOCH + Duration::from_millis(1_733_380_580_007));
        assert_eq!(String::from_utf8(output).unwrap(), "2024-12-05T06:36:20.007Z");
    }
}
