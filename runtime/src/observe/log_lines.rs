//! The runtime's JSON log lines, and the request each line belongs to.
//!
//! Every line that a request's work logs carries the request's ID and trace ID under `span`, as
//! `{"request.id":…,"trace.id":…,"name":"request"}`. A `tracing` span per request would give the
//! same line, but opening, entering and leaving it took about a seventh of the proxy's
//! instructions per request. Instead, [`RequestScope`] sets the request in a thread-local while
//! the request's future is polled, and [`JsonLines`] reads it when it writes a line. Lines inside
//! a real `tracing` span show that span's fields instead, as before.
//!
//! Line shape: `{"timestamp":"2026-12-05T06:16:39.371072Z","level":"INFO","fields":{…},
//! "target":"…","span":{…}}`, with `span` only when the line belongs to a request or a span.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::log_fields::{ObjectVisitor, push_json_string};

/// The labels that every log line of one request carries. They are turned into JSON only when
/// a line is written, which most requests never do.
#[derive(Debug)]
pub struct RequestLabels {
    request_id: String,
    trace_id: String,
}

impl RequestLabels {
    pub fn new(request_id: &str, trace_id: &str) -> Arc<Self> {
        Arc::new(Self { request_id: request_id.to_owned(), trace_id: trace_id.to_owned() })
    }

    /// Appends `{"request.id":"…","trace.id":"…","name":"request"}`.
    fn write_json(&self, line: &mut String) {
        line.push_str("{\"request.id\":");
        push_json_string(line, &self.request_id);
        line.push_str(",\"trace.id\":");
        push_json_string(line, &self.trace_id);
        line.push_str(",\"name\":\"request\"}");
    }

    /// Runs `work` with the request's labels on its log lines.
    pub fn in_scope<T>(self: &Arc<Self>, work: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        let result = work();
        CURRENT.with(|current| current.replace(previous));
        result
    }
}

thread_local! {
    /// The request whose future this thread is polling.
    static CURRENT: RefCell<Option<Arc<RequestLabels>>> = const { RefCell::new(None) };
}

pin_project_lite::pin_project! {
    /// A future whose log lines carry a request's labels.
    pub struct RequestScope<F> {
        labels: Arc<RequestLabels>,
        #[pin]
        inner: F,
    }
}

impl<F: Future> RequestScope<F> {
    pub fn new(labels: Arc<RequestLabels>, inner: F) -> Self {
        Self { labels, inner }
    }
}

impl<F: Future> Future for RequestScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.labels.in_scope(|| this.inner.poll(context))
    }
}

/// Writes each event as one JSON line.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(&self, context: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        fmt::Write::write_fmt(&mut line, format_args!("{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ")))?;
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push_str("\",\"fields\":{");
        let mut fields = ObjectVisitor::default();
        event.record(&mut fields);
        line.push_str(&fields.output);
        line.push_str("},\"target\":");
        push_json_string(&mut line, metadata.target());

        if let Some(span) = context.lookup_current() {
            let extensions = span.extensions();
            let span_fields = extensions.get::<FormattedFields<N>>().map_or("{}", |formatted| formatted.fields.as_str());
            // The span's fields are a JSON object; its name goes in as the last member.
            let members = span_fields.strip_suffix('}').unwrap_or("{");
            line.push_str(",\"span\":");
            line.push_str(members);
            if members.len() > 1 {
                line.push(',');
            }
            line.push_str("\"name\":");
            push_json_string(&mut line, span.name());
            line.push('}');
        } else {
            CURRENT.with(|current| {
                if let Some(labels) = &*current.borrow() {
                    line.push_str(",\"span\":");
                    labels.write_json(&mut line);
                }
            });
        }
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::log_fields::JsonSpanFields;
    use std::sync::Mutex;
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines_of(work: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::fmt().event_format(JsonLines).fmt_fields(JsonSpanFields).with_writer(captured.clone()).finish();
        tracing::subscriber::with_default(subscriber, work);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))).collect()
    }

    #[test]
    fn request_lines_carry_request_and_trace_ids() {
        let labels = RequestLabels::new("id-\"1\"\n\u{1}é", "4bf92f3577b34da6a3ce929d0e0e4736");
        let lines = lines_of(|| {
            labels.in_scope(|| tracing::warn!(error = "refused", attempt = 2u64, "upstream request failed"));
            tracing::info!("after the request");
        });
        assert_eq!(lines.len(), 2);
        let line = &lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["fields"]["message"], "upstream request failed");
        assert_eq!(line["fields"]["error"], "refused");
        assert_eq!(line["fields"]["attempt"], 2);
        assert_eq!(line["span"]["request.id"], "id-\"1\"\n\u{1}é");
        assert_eq!(line["span"]["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span"]["name"], "request");
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "{timestamp}");
        assert!(lines[1].get("span").is_none(), "a line after the request has no request: {}", lines[1]);
    }

    #[test]
    fn scope_follows_the_future_across_polls() {
        let labels = RequestLabels::new("polled", "trace");
        let lines = lines_of(|| {
            let mut waiting = true;
            let future = std::future::poll_fn(move |context| {
                tracing::info!(waiting, "polled");
                if std::mem::take(&mut waiting) {
                    context.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(())
            });
            let mut scoped = std::pin::pin!(RequestScope::new(labels, future));
            let mut context = Context::from_waker(std::task::Waker::noop());
            assert!(scoped.as_mut().poll(&mut context).is_pending());
            tracing::info!("between polls");
            assert!(scoped.as_mut().poll(&mut context).is_ready());
        });
        let request_ids: Vec<_> = lines.iter().map(|line| line["span"]["request.id"].as_str().map(str::to_owned)).collect();
        assert_eq!(request_ids, [Some("polled".to_owned()), None, Some("polled".to_owned())]);
    }

    #[test]
    fn span_lines_keep_their_span_fields() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("admin", client = "10.0.0.1", late = tracing::field::Empty);
            span.record("late", true);
            span.in_scope(|| tracing::info!("inside"));
            tracing::info_span!("bare").in_scope(|| tracing::info!("inside a span without fields"));
        });
        assert_eq!(lines[0]["span"], serde_json::json!({"client": "10.0.0.1", "late": true, "name": "admin"}));
        assert_eq!(lines[1]["span"], serde_json::json!({"name": "bare"}));
    }
}
