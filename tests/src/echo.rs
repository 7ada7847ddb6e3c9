//! An HTTP upstream that answers every request with a JSON description of what it received:
//! method, path with query, and headers. Tests and the quickstart use it to show what the gateway
//! sent upstream.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Largest request body the echo server reads; longer bodies are counted, not stored.
const MAX_ECHOED_BODY_BYTES: usize = 64 * 1024;

/// Binds `address` and serves until the task is dropped. Returns the bound address.
pub async fn spawn(address: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(echo));
                // A client that disconnects mid-request is normal in tests; nothing to report.
                let _ = connection.await;
            });
        }
    });
    Ok((bound, task))
}

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request.uri().path_and_query().map(|value| value.as_str().to_owned()).unwrap_or_default();
    let mut headers = serde_json::Map::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(serde_json::Value::Array(values)) => values.push(value.into()),
            _ => {
                headers.insert(name.as_str().to_owned(), serde_json::Value::Array(vec![value.into()]));
            }
        }
    }
    let body = request.into_body().collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    let echoed = serde_json::json!({
        "method": method,
        "path": path,
        "headers": headers,
        "bodyBytes": body.len(),
        "body": String::from_utf8_lossy(&body[..body.len().min(MAX_ECHOED_BODY_BYTES)]),
    });
    let response = Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(echoed.to_string())))
        .expect("static headers are valid");
    Ok(response)
}
