//! The direct HTTP/1.1 exchange: a request without a body, sent on a kept connection by the
//! request's own task.
//!
//! Most proxied requests are `GET`s without a body. For them this module writes the request head
//! itself, parses the response head with `httparse` and reads the response body as the client
//! takes it, all from the task that serves the client. Hyper's client would instead hand each
//! request to a task that owns the connection and pass the response and every body chunk back
//! through channels, which costs two task switches and their wake-ups per request. Requests with
//! a body, protocol upgrades, HTTPS and h2c stay on hyper's client.
//!
//! Response framing follows RFC 9112 section 6.3:
//! - no body for `HEAD`, 1xx, 204 and 304;
//! - a `Transfer-Encoding` whose last coding is `chunked` is decoded, its trailers kept, and any
//!   `Content-Length` beside it is dropped;
//! - another `Transfer-Encoding`, or no length at all, is read until the target closes;
//! - differing `Content-Length` values are an error.
//!
//! Interim 1xx responses are skipped, and an unexpected 101 is an error. A connection is kept for
//! reuse only when the response was HTTP/1.1 without `Connection: close` and its body was read to
//! the end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::connections::ConnectionPool;
use crate::proxy::body::{BoxError, ProxyBody};

/// Largest response head accepted from a target. A larger one is an invalid response (502).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Maximum number of header fields in a response head.
const MAX_HEADERS: usize = 100;
/// Largest chunk-size line or trailer section of a chunked body.
const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

/// A kept connection to a target, with what it has read and not yet used.
#[derive(Debug)]
pub struct DirectConnection {
    stream: TcpStream,
    buffer: BytesMut,
}

impl DirectConnection {
    pub fn new(stream: TcpStream) -> Self {
        Self { stream, buffer: BytesMut::with_capacity(READ_CHUNK) }
    }

    /// Returns whether the connection can carry another request, which is when nothing waits to
    /// be read on it: the target has neither closed it nor sent anything unasked. Only a
    /// connection that the runtime has seen become readable costs a system call, one read.
    pub fn is_reusable(&mut self) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        let mut context = Context::from_waker(std::task::Waker::noop());
        match self.stream.poll_read_ready(&mut context) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.stream.try_read(&mut probe), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }
}

/// Failures of a direct exchange.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The target closed or reset the connection before a byte of the response. On a kept
    /// connection, this is the race with the target's own idle timeout.
    #[error("the target closed the connection before responding")]
    ClosedBeforeResponse,
    #[error("the exchange with the target failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the target sent an invalid response: {0}")]
    Invalid(&'static str),
}

/// Returns whether `request` can take the direct path: HTTP/1.1, no body, no protocol upgrade.
pub fn suits(request: &Request<ProxyBody>) -> bool {
    request.version() == Version::HTTP_11 && request.body().is_end_stream() && !request.headers().contains_key(http::header::UPGRADE)
}

/// Returns whether sending `method` twice is harmless (RFC 9110 section 9.2.2). A request with
/// such a method, lost to a connection the target had just closed, can go again on another.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

/// Writes the request head: request line, then the header fields as they are.
pub fn encode_head(request: &Request<ProxyBody>) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |target| target.as_str());
    let fields: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    let mut head = Vec::with_capacity(request.method().as_str().len() + target.len() + fields + 16);
    head.extend_from_slice(request.method().as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Sends `head` on `connection` and reads the response head. The response body is read later
/// by [`DirectBody`], which hands the connection back to `pool` when it may be reused.
pub async fn exchange(
    mut connection: DirectConnection,
    head: &[u8],
    method: &Method,
    pool: &Arc<ConnectionPool>,
) -> Result<Response<ProxyBody>, DirectError> {
    if let Err(error) = connection.stream.write_all(head).await {
        return Err(match error.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => DirectError::ClosedBeforeResponse,
            _ => DirectError::Io(error),
        });
    }
    loop {
        let parsed = read_head(&mut connection).await?;
        if parsed.status.is_informational() {
            if parsed.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(DirectError::Invalid("101 Switching Protocols to a request that asked for no upgrade"));
            }
            continue;
        }
        return into_response(parsed, connection, method, pool);
    }
}

struct ParsedHead {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
}

async fn read_head(connection: &mut DirectConnection) -> Result<ParsedHead, DirectError> {
    use tokio::io::AsyncReadExt;
    let mut received_any = false;
    loop {
        if !connection.buffer.is_empty() {
            received_any = true;
            if let Some(parsed) = parse_head(&mut connection.buffer)? {
                return Ok(parsed);
            }
            if connection.buffer.len() >= MAX_HEAD_BYTES {
                return Err(DirectError::Invalid("response head larger than 64 KiB"));
            }
        }
        connection.buffer.reserve(READ_CHUNK);
        let read = match connection.stream.read_buf(&mut connection.buffer).await {
            Ok(read) => read,
            Err(error) if !received_any && error.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(DirectError::ClosedBeforeResponse);
            }
            Err(error) => return Err(DirectError::Io(error)),
        };
        if read == 0 {
            return Err(if received_any {
                DirectError::Invalid("connection closed inside the response head")
            } else {
                DirectError::ClosedBeforeResponse
            });
        }
    }
}

/// Parses a complete response head off the front of `buffer`, or returns `None` when more
/// bytes are needed.
fn parse_head(buffer: &mut BytesMut) -> Result<Option<ParsedHead>, DirectError> {
    // Left uninitialised: zeroing a hundred fields for every response costs more than parsing.
    let mut fields = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buffer, &mut fields) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(DirectError::Invalid("more than 100 header fields")),
        Err(_) => return Err(DirectError::Invalid("malformed response head")),
    };

    let status = response.code.and_then(|code| StatusCode::from_u16(code).ok()).ok_or(DirectError::Invalid("invalid status code"))?;
    let version = if response.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };

    // Each field's name and value as offsets into the head, so that the values can be cut out
    // of the head's bytes instead of copied once the parser no longer borrows them.
    let start = buffer.as_ptr() as usize;
    let places: Vec<(usize, usize, usize, usize)> = response
        .headers
        .iter()
        .map(|field| {
            let name = field.name.as_ptr() as usize - start;
            let value = field.value.as_ptr() as usize - start;
            (name, name + field.name.len(), value, value + field.value.len())
        })
        .collect();
    let head = buffer.split_to(length).freeze();
    // Room for the request ID and the route's response headers, which the proxy adds.
    let mut headers = HeaderMap::with_capacity(places.len() + 4);
    for &(name_start, name_end, value_start, value_end) in &places {
        let name = HeaderName::from_bytes(&head[name_start..name_end]).map_err(|_| DirectError::Invalid("invalid header name"))?;
        let value = head.slice(value_start..value_end);
        let value = HeaderValue::from_maybe_shared(value).map_err(|_| DirectError::Invalid("invalid header value"))?;
        headers.append(name, value);
    }
    Ok(Some(ParsedHead { status, version, headers }))
}

fn into_response(
    parsed: ParsedHead,
    connection: DirectConnection,
    method: &Method,
    pool: &Arc<ConnectionPool>,
) -> Result<Response<ProxyBody>, DirectError> {
    let ParsedHead { status, version, mut headers } = parsed;
    let framing = if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Length(0)
    } else if headers.contains_key(TRANSFER_ENCODING) {
        headers.remove(CONTENT_LENGTH);
        if last_coding_is_chunked(&headers) { Framing::Chunked(Chunked::Size) } else { Framing::UntilClose }
    } else {
        match content_length(&headers).map_err(DirectError::Invalid)? {
            Some(length) => {
                // Repeated equal values (`3, 3`, or two lines) go on as one, as RFC 9110
                // section 8.6 allows, because a list must not be forwarded.
                let mut values = headers.get_all(CONTENT_LENGTH).iter();
                let single = values.next().is_some_and(|value| value.as_bytes().iter().all(u8::is_ascii_digit)) && values.next().is_none();
                if !single {
                    headers.insert(CONTENT_LENGTH, http::HeaderValue::from(length));
                }
                Framing::Length(length)
            }
            None => Framing::UntilClose,
        }
    };
    // A chunk-size line that came with the head is checked now, while a broken body can still
    // get 502: once the head is out, the client only sees the connection close.
    if matches!(framing, Framing::Chunked(Chunked::Size))
        && let Some(line_end) = find_crlf(&connection.buffer)
        && chunk_size(&connection.buffer[..line_end]).is_none()
    {
        return Err(DirectError::Invalid("invalid chunk size from the target"));
    }
    let keep_alive = version == Version::HTTP_11 && !has_token(&headers, &CONNECTION, "close") && !matches!(framing, Framing::UntilClose);
    let mut body = DirectBody { connection: Some(connection), framing, keep_alive, pool: pool.clone() };
    if matches!(body.framing, Framing::Length(0)) {
        // Nothing to read: the connection is free now, whether or not the body is ever polled.
        body.finish();
    }
    let mut response = Response::new(http_body_util::BodyExt::boxed(body));
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(response)
}

fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

fn last_coding_is_chunked(headers: &HeaderMap) -> bool {
    let last = headers.get_all(TRANSFER_ENCODING).iter().next_back().and_then(|value| value.to_str().ok());
    last.and_then(|value| value.rsplit(',').next()).is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"))
}

/// The response's `Content-Length`: every value (and list item) must be the same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let text = value.to_str().map_err(|_| "invalid Content-Length")?;
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err("invalid Content-Length");
            }
            let parsed: u64 = item.parse().map_err(|_| "invalid Content-Length")?;
            if length.is_some_and(|known| known != parsed) {
                return Err("differing Content-Length values");
            }
            length = Some(parsed);
        }
    }
    Ok(length)
}

/// The way the rest of the response body is delimited.
#[derive(Debug)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunked),
    /// Until the target closes the connection.
    UntilClose,
    /// The body ended (or failed); nothing more is read.
    Done,
}

/// The position of a chunked body's decoder.
#[derive(Debug, Clone, Copy)]
enum Chunked {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last chunk, before the trailer section ends.
    Trailers,
}

/// The response body of a direct exchange, read from the connection as it is polled.
struct DirectBody {
    connection: Option<DirectConnection>,
    framing: Framing,
    keep_alive: bool,
    pool: Arc<ConnectionPool>,
}

impl DirectBody {
    /// Ends the body: the connection goes back to the pool when it can carry another request.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let Some(connection) = self.connection.take()
            && self.keep_alive
            && connection.buffer.is_empty()
        {
            self.pool.put_direct(connection);
        }
    }

    fn fail(&mut self, error: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.framing = Framing::Done;
        self.connection = None;
        Poll::Ready(Some(Err(error)))
    }

    /// Reads more bytes into the buffer; `Ok(false)` when the target closed the connection.
    fn poll_fill(&mut self, context: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        let Some(connection) = self.connection.as_mut() else { return Poll::Ready(Ok(false)) };
        connection.buffer.reserve(READ_CHUNK);
        let read = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut connection.stream), context, &mut connection.buffer))?;
        Poll::Ready(Ok(read > 0))
    }

    fn buffer(&mut self) -> &mut BytesMut {
        &mut self.connection.as_mut().expect("a body that is not done has its connection").buffer
    }

    fn poll_chunked(&mut self, context: &mut Context<'_>, state: Chunked) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match state {
            Chunked::Size => {
                let Some(line_end) = find_crlf(self.buffer()) else {
                    return self.poll_more(context, MAX_CHUNK_LINE_BYTES, "chunk-size line too long", state);
                };
                let line = self.buffer().split_to(line_end + 2);
                let Some(size) = chunk_size(&line[..line_end]) else { return self.fail("invalid chunk size from the target".into()) };
                self.framing = Framing::Chunked(if size == 0 { Chunked::Trailers } else { Chunked::Data(size) });
                self.poll_frame_inner(context)
            }
            Chunked::Data(left) => {
                if self.buffer().is_empty() {
                    return self.poll_more(context, usize::MAX, "", state);
                }
                let take = left.min(self.buffer().len() as u64) as usize;
                let data = self.buffer().split_to(take).freeze();
                let left = left - take as u64;
                self.framing = Framing::Chunked(if left == 0 { Chunked::DataEnd } else { Chunked::Data(left) });
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Chunked::DataEnd => {
                if self.buffer().len() < 2 {
                    return self.poll_more(context, usize::MAX, "", state);
                }
                if &self.buffer()[..2] != b"\r\n" {
                    return self.fail("chunk data not followed by CRLF".into());
                }
                self.buffer().advance(2);
                self.framing = Framing::Chunked(Chunked::Size);
                self.poll_frame_inner(context)
            }
            Chunked::Trailers => {
                let Some(end) = trailer_section_end(self.buffer()) else {
                    return self.poll_more(context, MAX_TRAILER_BYTES, "trailer section too large", state);
                };
                let section = self.buffer().split_to(end);
                let trailers = match parse_trailers(&section) {
                    Ok(trailers) => trailers,
                    Err(error) => return self.fail(error.into()),
                };
                self.finish();
                if trailers.is_empty() { Poll::Ready(None) } else { Poll::Ready(Some(Ok(Frame::trailers(trailers)))) }
            }
        }
    }

    /// Reads more of a chunked body, failing when what is buffered already exceeds `limit`.
    fn poll_more(
        &mut self,
        context: &mut Context<'_>,
        limit: usize,
        too_large: &'static str,
        state: Chunked,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.buffer().len() >= limit {
            return self.fail(too_large.into());
        }
        match ready!(self.poll_fill(context)) {
            Ok(true) => {
                self.framing = Framing::Chunked(state);
                self.poll_frame_inner(context)
            }
            Ok(false) => self.fail("the target closed the connection inside a chunked body".into()),
            Err(error) => self.fail(error.into()),
        }
    }

    fn poll_frame_inner(&mut self, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.framing {
            Framing::Done => Poll::Ready(None),
            Framing::Length(0) => {
                self.finish();
                Poll::Ready(None)
            }
            Framing::Length(left) => {
                if self.buffer().is_empty() {
                    match ready!(self.poll_fill(context)) {
                        Ok(true) => {}
                        Ok(false) => return self.fail("the target closed the connection before the end of the body".into()),
                        Err(error) => return self.fail(error.into()),
                    }
                }
                let take = left.min(self.buffer().len() as u64) as usize;
                let data = self.buffer().split_to(take).freeze();
                let left = left - take as u64;
                self.framing = Framing::Length(left);
                if left == 0 {
                    self.finish();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Framing::UntilClose => {
                if self.buffer().is_empty() {
                    match ready!(self.poll_fill(context)) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.finish();
                            return Poll::Ready(None);
                        }
                        Err(error) => return self.fail(error.into()),
                    }
                }
                let data = self.buffer().split().freeze();
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Framing::Chunked(state) => self.poll_chunked(context, state),
        }
    }
}

impl Body for DirectBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.poll_frame_inner(context)
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.framing, Framing::Done | Framing::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(left) => SizeHint::with_exact(left),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

fn find_crlf(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|pair| pair == b"\r\n")
}

/// Parses a chunk-size line (hex digits, then optional extensions after `;`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&byte| byte == b';').next()?;
    let digits = digits.strip_suffix(b" ").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |size, &byte| Some(size * 16 + u64::from((byte as char).to_digit(16)?)))
}

/// Returns the length of the trailer section, its final empty line included, once it is all
/// buffered.
fn trailer_section_end(buffer: &[u8]) -> Option<usize> {
    if buffer.starts_with(b"\r\n") {
        return Some(2);
    }
    buffer.windows(4).position(|window| window == b"\r\n\r\n").map(|position| position + 4)
}

fn parse_trailers(section: &[u8]) -> Result<HeaderMap, &'static str> {
    let mut trailers = HeaderMap::new();
    if section == b"\r\n" {
        return Ok(trailers);
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(section, &mut fields) {
        Ok(httparse::Status::Complete((_, parsed))) => {
            for field in parsed {
                let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| "invalid trailer name")?;
                let value = HeaderValue::from_bytes(field.value).map_err(|_| "invalid trailer value")?;
                trailers.append(name, value);
            }
            Ok(trailers)
        }
        _ => Err("malformed trailer section"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"FF;name=value"), Some(255));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"x1"), None);
        assert_eq!(chunk_size(b"+1"), None);
        assert_eq!(chunk_size(b"11111111111111111"), None, "more than 64 bits");
    }

    #[test]
    fn content_length_values_must_agree() {
        let mut headers = HeaderMap::new();
        headers.append(CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert_eq!(content_length(&headers), Ok(Some(12)));
        headers.append(CONTENT_LENGTH, HeaderValue::from_static("12, 12"));
        assert_eq!(content_length(&headers), Ok(Some(12)));
        headers.append(CONTENT_LENGTH, HeaderValue::from_static("13"));
        assert_eq!(content_length(&headers), Err("differing Content-Length values"));
        let mut signed = HeaderMap::new();
        signed.append(CONTENT_LENGTH, HeaderValue::from_static("+12"));
        assert_eq!(content_length(&signed), Err("invalid Content-Length"));
    }

    #[test]
    fn chunked_must_be_the_last_coding() {
        let mut headers = HeaderMap::new();
        headers.append(TRANSFER_ENCODING, HeaderValue::from_static("gzip, chunked"));
        assert!(last_coding_is_chunked(&headers));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked, gzip"));
        assert!(!last_coding_is_chunked(&headers));
    }

    #[test]
    fn head_parses_once_complete() {
        let mut buffer = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n"[..]);
        assert!(parse_head(&mut buffer).unwrap().is_none());
        buffer.extend_from_slice(b"X-A: 2\r\n\r\nok");
        let parsed = parse_head(&mut buffer).unwrap().unwrap();
        assert_eq!(parsed.status, StatusCode::OK);
        assert_eq!(parsed.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(&buffer[..], b"ok", "the body stays in the buffer");
    }
}
