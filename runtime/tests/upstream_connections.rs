//! Kept connections to plain-HTTP upstreams: reuse, recovery from connections the upstream
//! closed, and no reuse of a connection whose response was not read to its end.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{ADMIN_TOKEN, Gateway, client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A hand-written HTTP/1.1 upstream that numbers its connections. Every response body names
/// the connection it was sent on (`connection-N`), so a test can tell which requests shared one.
/// Paths: `/close` responds and then closes the connection without a `Connection: close`
/// header. `/empty` responds 204, and `/large` sends a 4 MiB body in small slow pieces.
/// `/chunked` sends a chunked body in pieces that split its lines, with an extension and a
/// trailer. `/until-close` sends a body without length that ends when the connection closes.
/// `/http10` responds in HTTP/1.0, and `/continue` sends `100 Continue` before its response.
/// `/two-lengths` sends two different `Content-Length` values, and `/length-list` sends
/// `Content-Length: 3, 3`. `/bad-chunk` sends an invalid chunk size right after its head, and
/// `/short` closes the connection before the end of the body its head announced, after a pause,
/// and `/short-now` at once.
/// Any other path responds 200 (without the body to HEAD).
struct CountingUpstream {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl CountingUpstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(serve(stream, number));
            }
        });
        Self { port, connections }
    }

    fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn spec(&self) -> String {
        format!(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: counted\n    targets: [{{host: 127.0.0.1, port: {}}}]\nroutes:\n  - name: all\n    match: {{path: {{prefix: /}}}}\n    upstream: counted\n",
            self.port
        )
    }
}

async fn serve(mut stream: TcpStream, number: usize) {
    let mut buffer = Vec::new();
    loop {
        let Some(head) = read_head(&mut stream, &mut buffer).await else { return };
        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
        let body = format!("connection-{number}");
        let written = match path.as_str() {
            "/empty" => stream.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await,
            "/chunked" => {
                let middle = format!("\n, {body}\r\n0\r");
                let pieces: [&[u8]; 5] = [
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                    b"5\r\nhel",
                    b"lo\r\nE;note=split\r",
                    middle.as_bytes(),
                    b"\nx-checksum: 1\r\n\r\n",
                ];
                let mut result = Ok(());
                for piece in pieces {
                    result = stream.write_all(piece).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                result
            }
            "/until-close" => {
                let _ = stream.write_all(format!("HTTP/1.1 200 OK\r\n\r\nuntil close on {body}").as_bytes()).await;
                return;
            }
            "/http10" => {
                let response = format!("HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                stream.write_all(response.as_bytes()).await
            }
            "/continue" => {
                let response = format!("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                stream.write_all(response.as_bytes()).await
            }
            "/two-lengths" => stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc").await,
            "/short" => {
                // The head and part of the body, then a pause so that the gateway sends the head
                // on, then the connection closes 95 bytes early.
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello").await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            "/short-now" => {
                // The same, with the close right after the bytes.
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello").await;
                return;
            }
            "/length-list" => stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc").await,
            "/bad-chunk" => stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n").await,
            "/large" => {
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 4194304\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b'x'; 16 * 1024];
                for _ in 0..256 {
                    if stream.write_all(&piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(())
            }
            _ => {
                let mut response = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                if !head.starts_with("HEAD ") {
                    response.push_str(&body);
                }
                stream.write_all(response.as_bytes()).await
            }
        };
        if written.is_err() || path == "/close" {
            return;
        }
    }
}

/// Reads one request head (requests here carry no body); `None` at end of input.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
        }
    }
}

async fn body_of(gateway: &Gateway, path: &str) -> (u16, String) {
    let response = client().get(gateway.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn sequential_requests_share_one_upstream_connection() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    for _ in 0..5 {
        assert_eq!(body_of(&gateway, "/").await, (200, "connection-1".to_owned()));
    }
    assert_eq!(upstream.connection_count(), 1);
}

#[tokio::test]
async fn bodiless_responses_keep_their_connection() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    assert_eq!(body_of(&gateway, "/empty").await.0, 204);
    let head = client().head(gateway.url("/")).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-1".to_owned()));
    assert_eq!(upstream.connection_count(), 1);
}

#[tokio::test]
async fn connection_closed_by_upstream_is_replaced() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    assert_eq!(body_of(&gateway, "/close").await, (200, "connection-1".to_owned()));
    // Give the gateway time to read the end of the closed connection; the next request must
    // then go out on a new connection and succeed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-2".to_owned()));
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-2".to_owned()));
    assert_eq!(upstream.connection_count(), 2);
}

#[tokio::test]
async fn abandoned_response_closes_its_connection() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    // Read the head and a little of the 4 MiB body, then hang up.
    let mut stream = TcpStream::connect(gateway.address).await.unwrap();
    stream.write_all(b"GET /large HTTP/1.1\r\nhost: example.test\r\n\r\n").await.unwrap();
    let mut start = [0u8; 1024];
    let read = stream.read(&mut start).await.unwrap();
    assert!(String::from_utf8_lossy(&start[..read]).starts_with("HTTP/1.1 200"));
    drop(stream);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The half-read connection still carries the rest of the large body, so reusing it would
    // return that body's bytes as this request's response.
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-2".to_owned()));
    assert_eq!(upstream.connection_count(), 2);
}

#[tokio::test]
async fn chunked_body_split_across_reads_arrives_whole() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    assert_eq!(body_of(&gateway, "/chunked").await, (200, "hello, connection-1".to_owned()));
    // The chunked body ended cleanly, so its connection is reused.
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-1".to_owned()));
    assert_eq!(upstream.connection_count(), 1);
}

#[tokio::test]
async fn body_until_close_is_read_and_not_reused() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    assert_eq!(body_of(&gateway, "/until-close").await, (200, "until close on connection-1".to_owned()));
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-2".to_owned()));
    assert_eq!(upstream.connection_count(), 2);
}

#[tokio::test]
async fn http10_response_connection_not_reused() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    assert_eq!(body_of(&gateway, "/http10").await, (200, "connection-1".to_owned()));
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-2".to_owned()));
}

#[tokio::test]
async fn interim_continue_is_skipped() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    assert_eq!(body_of(&gateway, "/continue").await, (200, "connection-1".to_owned()));
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-1".to_owned()));
}

#[tokio::test]
async fn differing_content_lengths_get_502() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    let response = client().get(gateway.url("/two-lengths")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    // The connection with the unreadable response is not reused.
    assert_eq!(body_of(&gateway, "/").await, (200, "connection-2".to_owned()));
}

/// An invalid chunk size that arrives with the head gets 502, because no byte of the response
/// has reached the client yet.
#[tokio::test]
async fn invalid_first_chunk_size_gets_502() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    let response = client().get(gateway.url("/bad-chunk")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

/// A body the upstream breaks off after its head went out is logged with the status sent and
/// `responseIncomplete`, and counted as an error for the rollout health gate.
#[tokio::test]
async fn broken_off_body_is_logged_and_counted() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    let response = client().get(gateway.url("/short")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.bytes().await.is_err(), "the client must see the body end early");

    let lines = gateway.access_log_lines(1).await;
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["responseIncomplete"], true);
    let status: serde_json::Value =
        client().get(gateway.admin_url("/status")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["traffic"]["errors"], 1, "{status}");
    let complete = client().get(gateway.url("/")).send().await.unwrap();
    assert_eq!(complete.text().await.unwrap(), "connection-2");
    let lines = gateway.access_log_lines(2).await;
    assert!(lines[1].get("responseIncomplete").is_none(), "{}", lines[1]);
}

/// When the upstream closes right after a short body, the client still gets the head and the
/// bytes that came, then an error for the body.
#[tokio::test]
async fn client_gets_head_of_a_broken_off_body() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    for attempt in 0..20 {
        let response =
            client().get(gateway.url("/short-now")).send().await.unwrap_or_else(|error| panic!("attempt {attempt}: no head: {error}"));
        assert_eq!(response.status().as_u16(), 200, "attempt {attempt}");
        assert!(response.bytes().await.is_err(), "attempt {attempt}: the body must end early");
    }
}

#[tokio::test]
async fn equal_content_lengths_go_on_as_one() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    let response = client().get(gateway.url("/length-list")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-length"], "3");
    assert_eq!(response.text().await.unwrap(), "abc");
}

#[tokio::test]
async fn request_on_just_closed_connection_goes_again() {
    let upstream = CountingUpstream::start().await;
    let gateway = Gateway::start(&upstream.spec()).await;

    // No pause after `/close`: the next request may find the closed connection still kept, and
    // must then be sent again on a new one instead of failing.
    for round in 1..=20 {
        assert_eq!(body_of(&gateway, "/close").await.0, 200, "round {round}");
        assert_eq!(body_of(&gateway, "/").await.0, 200, "round {round}");
    }
}
