//! The structured access log: one JSON line per request, written by its own task so the request
//! path only pushes a record onto a bounded channel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Records waiting to be written before new ones are dropped (and counted).
const CHANNEL_CAPACITY: usize = 16 * 1024;

/// One access-log line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    pub timestamp: String,
    pub request_id: String,
    pub trace_id: String,
    pub client_address: String,
    /// The authenticated consumer; empty until authentication runs in the gateway.
    pub consumer: String,
    pub route: String,
    pub upstream_target: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub total_latency_ms: f64,
    pub upstream_latency_ms: Option<f64>,
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
    /// Opens the target and starts the writer task.
    pub async fn start(target: AccessLogTarget) -> std::io::Result<Self> {
        let writer: Box<dyn tokio::io::AsyncWrite + Send + Unpin> =
            match &target {
                AccessLogTarget::Disabled => return Ok(Self { sender: None, dropped: Arc::default() }),
                AccessLogTarget::Stdout => Box::new(tokio::io::stdout()),
                AccessLogTarget::File(path) => {
                    Box::new(tokio::fs::OpenOptions::new().create(true).append(true).open(path).await.map_err(|error| {
                        std::io::Error::new(error.kind(), format!("cannot open access log {}: {error}", path.display()))
                    })?)
                }
            };
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(write_records(receiver, writer));
        Ok(Self { sender: Some(sender), dropped: Arc::default() })
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

async fn write_records(mut receiver: mpsc::Receiver<AccessRecord>, mut writer: Box<dyn tokio::io::AsyncWrite + Send + Unpin>) {
    let mut line = Vec::with_capacity(512);
    while let Some(record) = receiver.recv().await {
        line.clear();
        if serde_json::to_writer(&mut line, &record).is_err() {
            continue;
        }
        line.push(b'\n');
        if let Err(error) = writer.write_all(&line).await {
            tracing::warn!(%error, "writing the access log failed");
            continue;
        }
        if receiver.is_empty()
            && let Err(error) = writer.flush().await
        {
            tracing::warn!(%error, "flushing the access log failed");
        }
    }
    let _ = writer.flush().await;
}
