//! The structured access log: one JSON line per request.
//!
//! The request path only pushes a record onto a bounded channel. A thread of its own formats the
//! records and writes them in batches, so neither formatting nor file I/O runs on a proxy worker.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::net::IpAddr;
use std::time::SystemTime;

use http::Method;
use serde::Serialize;
use std::io::Write;

use tokio::sync::mpsc;

use super::TraceContext;

/// Records waiting to be written before new ones are dropped (and counted).
const CHANNEL_CAPACITY: usize = 16 * 1024;

/// Size of the buffer that gathers formatted lines. The buffer is written when it is full and
/// whenever the queue is empty.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

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
    #[serde(serialize_with = "method_text")]
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub total_latency_ms: f64,
    pub upstream_latency_ms: Option<f64>,
}

fn rfc3339_millis<S: serde::Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let time: chrono::DateTime<chrono::Utc> = (*time).into();
    serializer.collect_str(&time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn trace_id<S: serde::Serializer>(trace: &TraceContext, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(trace.trace_id())
}

fn method_text<S: serde::Serializer>(method: &Method, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_str())
}

/// The sending side of the access log, cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessLog {
    sender: Option<mpsc::Sender<AccessRecord>>,
    dropped: Arc<AtomicU64>,
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
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
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
        if sender.try_send(record).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "access-log writer is behind; records were dropped");
            }
        }
    }
}

/// Writes records until every sender is gone. It blocks for the first record of a batch, takes
/// whatever else is queued, and writes the batch before it waits again.
fn write_records(mut receiver: mpsc::Receiver<AccessRecord>, writer: Box<dyn Write + Send>) {
    let mut output = std::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, writer);
    while let Some(record) = receiver.blocking_recv() {
        write_line(&mut output, &record);
        while let Ok(record) = receiver.try_recv() {
            write_line(&mut output, &record);
        }
        if let Err(error) = output.flush() {
            tracing::warn!(%error, "writing the access log failed");
        }
    }
    let _ = output.flush();
}

fn write_line(output: &mut impl Write, record: &AccessRecord) {
    let written = serde_json::to_writer(&mut *output, record).map_err(std::io::Error::from).and_then(|()| output.write_all(b"\n"));
    if let Err(error) = written {
        tracing::warn!(%error, "writing the access log failed");
    }
}
