//! The minimum work of an HTTP/1.1 proxy, as a measuring stick for `bench/run.sh`.
//!
//! On the benchmark machine, `wrk`, the upstream and the proxy under test share two cores. When
//! a proxy gets fast enough, the load generator and the upstream set the rate, not the proxy.
//! This forwarder finds that limit: it parses each request head, writes it to a kept upstream
//! connection and copies the response back, on one thread. It routes nothing, checks nothing and
//! logs nothing, so no gateway can serve more requests per second on the same machine.
//!
//! It handles only what the benchmark sends: requests without a body, and responses framed by
//! `Content-Length`. Anything else closes the connection. It is not a proxy to deploy.
//!
//! Usage: `gatectl-bare-forwarder LISTEN_ADDR UPSTREAM_ADDR`, for example
//! `gatectl-bare-forwarder 127.0.0.1:18089 127.0.0.1:18080`.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BUFFER_SIZE: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: gatectl-bare-forwarder LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let (listen, upstream) = match (listen.parse::<SocketAddr>(), upstream.parse::<SocketAddr>()) {
        (Ok(listen), Ok(upstream)) => (listen, upstream),
        _ => {
            eprintln!("gatectl-bare-forwarder: both addresses must be IP:PORT, such as 127.0.0.1:18080");
            std::process::exit(2);
        }
    };

    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("a current-thread runtime with I/O builds");
    if let Err(error) = runtime.block_on(serve(listen, upstream)) {
        eprintln!("gatectl-bare-forwarder: {error}");
        std::process::exit(1);
    }
}

async fn serve(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(async move {
            // A connection ends on any error or unsupported message. The benchmark sends neither.
            let _ = forward_connection(client, upstream).await;
        });
    }
}

/// Forwards one client connection's requests, one at a time, over one upstream connection.
async fn forward_connection(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut upstream = TcpStream::connect(upstream).await?;
    upstream.set_nodelay(true)?;
    let mut request = vec![0; BUFFER_SIZE];
    let mut response = vec![0; BUFFER_SIZE];
    let mut message = Vec::with_capacity(BUFFER_SIZE);

    loop {
        if !read_request(&mut client, &mut request, &mut message).await? {
            return Ok(());
        }
        upstream.write_all(&message).await?;
        if !read_response(&mut upstream, &mut response, &mut message).await? {
            return Ok(());
        }
        client.write_all(&message).await?;
    }
}

/// Reads one request head from the client and writes it to `message`, without `Connection`.
/// `false` means the client closed the connection or sent something this forwarder skips.
async fn read_request(client: &mut TcpStream, buffer: &mut [u8], message: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut filled = 0;
    loop {
        let read = client.read(&mut buffer[filled..]).await?;
        if read == 0 {
            return Ok(false);
        }
        filled += read;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut head = httparse::Request::new(&mut headers);
        match head.parse(&buffer[..filled]) {
            Ok(httparse::Status::Partial) if filled < buffer.len() => continue,
            Ok(httparse::Status::Complete(_)) => {
                message.clear();
                message.extend_from_slice(head.method.unwrap_or("GET").as_bytes());
                message.push(b' ');
                message.extend_from_slice(head.path.unwrap_or("/").as_bytes());
                message.extend_from_slice(b" HTTP/1.1\r\n");
                copy_headers(head.headers, message);
                return Ok(true);
            }
            _ => return Ok(false),
        }
    }
}

/// Reads one response with a `Content-Length` body from the upstream and writes it to
/// `message`, without `Connection`. `false` means the upstream closed the connection or sent
/// something this forwarder skips.
async fn read_response(upstream: &mut TcpStream, buffer: &mut [u8], message: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut filled = 0;
    loop {
        let read = upstream.read(&mut buffer[filled..]).await?;
        if read == 0 {
            return Ok(false);
        }
        filled += read;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut head = httparse::Response::new(&mut headers);
        let head_length = match head.parse(&buffer[..filled]) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if filled < buffer.len() => continue,
            _ => return Ok(false),
        };
        let Some(body_length) = content_length(head.headers) else {
            return Ok(false);
        };
        let end = head_length + body_length;
        if end > buffer.len() {
            return Ok(false);
        }
        if filled < end {
            continue;
        }
        message.clear();
        message.extend_from_slice(b"HTTP/1.1 ");
        message.extend_from_slice(head.code.unwrap_or(200).to_string().as_bytes());
        message.push(b' ');
        message.extend_from_slice(head.reason.unwrap_or("").as_bytes());
        message.extend_from_slice(b"\r\n");
        copy_headers(head.headers, message);
        message.extend_from_slice(&buffer[head_length..end]);
        return Ok(true);
    }
}

fn copy_headers(headers: &[httparse::Header<'_>], message: &mut Vec<u8>) {
    for header in headers {
        if header.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        message.extend_from_slice(header.name.as_bytes());
        message.extend_from_slice(b": ");
        message.extend_from_slice(header.value);
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(b"\r\n");
}

fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    let header = headers.iter().find(|header| header.name.eq_ignore_ascii_case("content-length"))?;
    std::str::from_utf8(header.value).ok()?.trim().parse().ok()
}
