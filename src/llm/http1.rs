//! HTTP/1.1 to Ollama (and, for `maia healthcheck`, to maia): what maia's calls need and
//! no more.
//!
//! Why not a general client: a chat stream holds its connection for as long as the model
//! writes, and maia holds a thousand at once. A general client keeps a task, a channel and
//! two 8 KiB buffers per connection for that time; this keeps the socket and the bytes of
//! the line being read. Each call waits under its caller's deadline (chat.rs); the connect
//! has its own.
//!
//! A plain connection whose response was read to its end is kept for the next request, a
//! few of them for a while ([`MAX_IDLE`], [`IDLE_FOR`]): a short answer then costs no
//! connect and no close. One left mid-body is closed, which is how Ollama learns to stop
//! writing. Idle ones are kept apart from any runtime: each actix worker is a runtime of
//! its own, and a socket stays tied to the one it was used in until it is let go of.
//! TLS connections are not kept (their state cannot be taken apart and put back).

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use url::Url;

/// Connecting to a local service should be near-instant; a long wait means it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a response's head (status line and headers) may take.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// The most a chunk-size line or a trailer line may take.
const MAX_LINE_BYTES: usize = 1024;
/// What is read at a time: an NDJSON line of Ollama's is a few hundred bytes.
const READ_BYTES: usize = 1024;
/// The most connections kept idle for the next request, per endpoint; more are closed.
pub const MAX_IDLE: usize = 32;
/// How long an idle connection is kept; an older one is closed rather than used.
pub const IDLE_FOR: Duration = Duration::from_secs(30);

/// What went wrong on the way to Ollama or back, below what Ollama meant.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// No connection: nothing listens, the name does not resolve, or TLS failed.
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The peer's bytes are not HTTP/1.1 as maia reads it.
    #[error("the answer is not HTTP/1.1: {0}")]
    Malformed(String),
    #[error("the answer is longer than {0} bytes")]
    TooLong(usize),
}

fn malformed(what: impl Into<String>) -> WireError {
    WireError::Malformed(what.into())
}

/// Where requests go: the server's address, TLS for `https`, and its `Host`.
pub struct Endpoint {
    host: url::Host<String>,
    port: u16,
    authority: String,
    authorization: Option<String>,
    tls: Option<TlsConnector>,
    idle: Arc<IdleConnections>,
}

impl Endpoint {
    /// The endpoint of `url` (`http` or `https`, with a host); `tls` is used for `https`.
    pub fn new(
        url: &Url,
        tls: impl FnOnce() -> Result<rustls::ClientConfig, String>,
    ) -> Result<Self, String> {
        let host = url.host().ok_or("the URL has no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => Some(TlsConnector::from(Arc::new(tls()?))),
            other => return Err(format!("the scheme {other:?} is not http or https")),
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Self {
            host,
            port,
            authority,
            authorization: basic_authorization(url),
            tls,
            idle: Arc::default(),
        })
    }

    /// Sends `method` of `target` (a path and query), with `json` as its body if any, and
    /// reads the response's head; the body is then read from the response.
    ///
    /// An idle connection is used if there is one. The server may have closed it just
    /// then, so a request that cannot be written on it is written again on a new one. One
    /// written and then unanswered is not: the server may be at work on it.
    pub async fn send(
        &self,
        method: &str,
        target: &str,
        json: Option<&[u8]>,
    ) -> Result<Response, WireError> {
        let request = self.request(method, target, json);
        let written = match self.idle.take() {
            Some(idle) => write_request(idle, &request).await.ok(),
            None => None,
        };
        let connection = match written {
            Some(connection) => connection,
            None => write_request(self.connect().await?, &request).await?,
        };
        Response::read(Pooled {
            connection: Some(connection),
            idle: Arc::clone(&self.idle),
        })
        .await
    }

    fn request(&self, method: &str, target: &str, json: Option<&[u8]>) -> Vec<u8> {
        use std::fmt::Write as _;
        let body = json.unwrap_or_default();
        let mut head = String::with_capacity(256);
        // Infallible: writing to a String.
        let _ = write!(
            head,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: maia/{}\r\n\
             Accept: application/json, application/x-ndjson\r\n",
            self.authority,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(credentials) = &self.authorization {
            let _ = write!(head, "Authorization: Basic {credentials}\r\n");
        }
        if json.is_some() {
            let _ = write!(
                head,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        request
    }

    async fn connect(&self) -> Result<Connection, WireError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, self.connect_tcp())
            .await
            .map_err(|_| {
                WireError::Connect(format!(
                    "connecting to {} took longer than {} s",
                    self.authority,
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        // Each piece of an answer goes out as it is written.
        tcp.set_nodelay(true)?;
        let Some(tls) = &self.tls else {
            return Ok(Connection::Plain(tcp));
        };
        let name = match &self.host {
            url::Host::Domain(d) => rustls::pki_types::ServerName::try_from(d.clone())
                .map_err(|e| WireError::Connect(format!("TLS to {}: {e}", self.authority)))?,
            url::Host::Ipv4(ip) => IpAddr::V4(*ip).into(),
            url::Host::Ipv6(ip) => IpAddr::V6(*ip).into(),
        };
        let connecting = tls.connect(name, tcp);
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| WireError::Connect(format!("TLS to {} took too long", self.authority)))?
            .map_err(|e| WireError::Connect(format!("TLS to {}: {e}", self.authority)))?;
        Ok(Connection::Tls(Box::new(stream)))
    }

    /// The first address of the host that takes the connection.
    async fn connect_tcp(&self) -> Result<TcpStream, WireError> {
        let addresses: Vec<_> = match &self.host {
            url::Host::Domain(d) => tokio::net::lookup_host((d.as_str(), self.port))
                .await
                .map_err(|e| WireError::Connect(format!("cannot resolve {d}: {e}")))?
                .collect(),
            url::Host::Ipv4(ip) => vec![(IpAddr::V4(*ip), self.port).into()],
            url::Host::Ipv6(ip) => vec![(IpAddr::V6(*ip), self.port).into()],
        };
        let mut last = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last = Some(e),
            }
        }
        Err(WireError::Connect(match last {
            Some(e) => format!("cannot connect to {}: {e}", self.authority),
            None => format!("{} has no address", self.authority),
        }))
    }
}

/// `request` written on `connection`, which is handed back for the response.
async fn write_request(mut connection: Connection, request: &[u8]) -> io::Result<Connection> {
    connection.write_all(request).await?;
    connection.flush().await?;
    Ok(connection)
}

/// What a request line names of `url`: its path, and its query if it has one.
pub fn request_target(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// The URL's user name and password, if any (a proxy's), as HTTP basic credentials.
fn basic_authorization(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut credentials = decode(url.username());
    credentials.push(b':');
    credentials.extend(decode(url.password().unwrap_or_default()));
    Some(base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// A connection to Ollama, plain or TLS.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Whether an idle socket is still open and quiet: anything the server sent while it was
/// idle (its close, say) makes it unusable. Only peeked at; the socket does not block.
fn is_quiet(tcp: &std::net::TcpStream) -> bool {
    matches!(tcp.peek(&mut [0; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// The plain connections of an endpoint waiting for its next request, the latest last,
/// each let go of by the runtime it was used in.
#[derive(Default)]
struct IdleConnections(Mutex<Vec<(std::net::TcpStream, Instant)>>);

impl IdleConnections {
    /// The latest idle connection still open, in the current runtime; those too old or
    /// closed are closed.
    fn take(&self) -> Option<Connection> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|(_, since)| since.elapsed() < IDLE_FOR);
        while let Some((tcp, _)) = idle.pop() {
            if is_quiet(&tcp) {
                if let Ok(tcp) = TcpStream::from_std(tcp) {
                    return Some(Connection::Plain(tcp));
                }
            }
        }
        None
    }

    fn keep(&self, connection: Connection) {
        let Connection::Plain(tcp) = connection else {
            return;
        };
        let Ok(tcp) = tcp.into_std() else {
            return;
        };
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= MAX_IDLE {
            // The oldest is the likeliest to have been closed by the server.
            idle.remove(0);
        }
        idle.push((tcp, Instant::now()));
    }
}

/// A response's connection, given back to its endpoint's idle ones once the response has
/// been read to its end; closed if it is dropped before.
pub struct Pooled {
    connection: Option<Connection>,
    idle: Arc<IdleConnections>,
}

impl AsyncRead for Pooled {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().connection {
            Some(connection) => Pin::new(connection).poll_read(cx, buf),
            // Given back: nothing more is to be read on this response.
            None => Poll::Ready(Ok(())),
        }
    }
}

/// A stream that can be used again once a response on it has been read to its end.
pub trait Reuse {
    fn reuse(&mut self);
}

impl Reuse for Pooled {
    fn reuse(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.idle.keep(connection);
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A response whose head has been read: its status, then its body as it arrives.
pub struct Response<S = Pooled> {
    pub status: u16,
    /// The reason phrase, as the server wrote it.
    pub reason: String,
    pub body: Body<S>,
}

impl<S: AsyncRead + Unpin + Reuse> Response<S> {
    /// Reads the head from `stream`, skipping interim (1xx) heads.
    pub async fn read(stream: S) -> Result<Self, WireError> {
        let mut body = Body {
            stream,
            buf: Vec::new(),
            start: 0,
            framing: Framing::UntilClose,
            reusable: false,
        };
        loop {
            let head = body.read_head().await?;
            if !(100..200).contains(&head.status) {
                body.framing = head.framing;
                body.reusable = head.keep_alive && head.framing != Framing::UntilClose;
                return Ok(Response {
                    status: head.status,
                    reason: head.reason,
                    body,
                });
            }
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How the body's end is known (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Ended,
}

/// Where a chunked body is: before a size line, inside a chunk's data (so many bytes
/// left), at the line end after the data, or in the trailers after the last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

struct Head {
    status: u16,
    reason: String,
    framing: Framing,
    /// HTTP/1.1 and no `Connection: close`: the server keeps the connection open.
    keep_alive: bool,
}

/// A response's body, read as it arrives. The connection closes when it is dropped before
/// the body's end, and is kept for the next request when read to it.
pub struct Body<S = Pooled> {
    stream: S,
    /// Bytes read and not yet handed out are `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    framing: Framing,
    /// The connection may carry another request once this body has ended.
    reusable: bool,
}

impl<S: AsyncRead + Unpin + Reuse> Body<S> {
    /// The next bytes of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, WireError> {
        loop {
            if let Some(range) = self.step()? {
                return Ok(Some(&self.buf[range]));
            }
            if self.framing == Framing::Ended {
                // Bytes past the body would be read as the next response's: not kept.
                if std::mem::take(&mut self.reusable) && self.start == self.buf.len() {
                    self.stream.reuse();
                }
                return Ok(None);
            }
            if self.fill().await? == 0 {
                return match self.framing {
                    Framing::UntilClose => {
                        self.framing = Framing::Ended;
                        Ok(None)
                    }
                    _ => Err(WireError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection closed before the end of the body",
                    ))),
                };
            }
        }
    }

    /// Reads what is left of the body, and no more than `limit` bytes of it, for the
    /// connection to be kept: an answer's last bytes come just after its last line.
    pub async fn finish(mut self, within: Duration, limit: usize) {
        let mut left = limit;
        let drain = async {
            while let Ok(Some(bytes)) = self.chunk().await {
                left = left.saturating_sub(bytes.len());
                if left == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(within, drain).await;
    }

    /// The whole body, refused past `limit` bytes.
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, WireError> {
        let mut all = Vec::new();
        while let Some(bytes) = self.chunk().await? {
            if all.len() + bytes.len() > limit {
                return Err(WireError::TooLong(limit));
            }
            all.extend_from_slice(bytes);
        }
        Ok(all)
    }

    /// Advances the framing over what is buffered: a range of body bytes to hand out, or
    /// `None` when more must be read first (or the body has ended).
    fn step(&mut self) -> Result<Option<std::ops::Range<usize>>, WireError> {
        loop {
            let buffered = self.buf.len() - self.start;
            match self.framing {
                Framing::Ended => return Ok(None),
                Framing::Length(0) => self.framing = Framing::Ended,
                Framing::Length(_) | Framing::Chunked(Chunked::Data(_)) | Framing::UntilClose
                    if buffered == 0 =>
                {
                    return Ok(None)
                }
                Framing::UntilClose => return Ok(Some(self.take(buffered))),
                Framing::Length(left) => {
                    let take = at_most(buffered, left);
                    self.framing = Framing::Length(left - take as u64);
                    return Ok(Some(self.take(take)));
                }
                Framing::Chunked(Chunked::Data(left)) => {
                    let take = at_most(buffered, left);
                    self.framing = match left - take as u64 {
                        0 => Framing::Chunked(Chunked::DataEnd),
                        left => Framing::Chunked(Chunked::Data(left)),
                    };
                    return Ok(Some(self.take(take)));
                }
                Framing::Chunked(state) => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    self.framing = after_line(state, &self.buf[line])?;
                }
            }
        }
    }

    fn take(&mut self, n: usize) -> std::ops::Range<usize> {
        let range = self.start..self.start + n;
        self.start += n;
        range
    }

    /// Where the next CRLF-ended line is in the buffer, without its CRLF, if it is all
    /// buffered; it is then taken.
    fn line(&mut self) -> Result<Option<std::ops::Range<usize>>, WireError> {
        let buffered = &self.buf[self.start..];
        let Some(end) = buffered.windows(2).position(|w| w == b"\r\n") else {
            if buffered.len() > MAX_LINE_BYTES {
                return Err(malformed("a chunk line too long"));
            }
            return Ok(None);
        };
        if end > MAX_LINE_BYTES {
            return Err(malformed("a chunk line too long"));
        }
        let line = self.start..self.start + end;
        self.start += end + 2;
        Ok(Some(line))
    }

    /// Reads more from the connection: how many bytes (0 at its end). What was handed out
    /// is let go of first, so the buffer holds only what is still to come.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_BYTES / 2 {
            self.buf.reserve(READ_BYTES);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Reads and parses a response head; the bytes after it stay buffered for the body.
    async fn read_head(&mut self) -> Result<Head, WireError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf[self.start..]) {
                Ok(httparse::Status::Complete(length)) => {
                    let head = head_of(&parsed)?;
                    self.start += length;
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(malformed(e.to_string())),
            }
            if self.buf.len() - self.start > MAX_HEAD_BYTES {
                return Err(malformed(format!(
                    "a head longer than {MAX_HEAD_BYTES} bytes"
                )));
            }
            if self.fill().await? == 0 {
                return Err(WireError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before the answer's head",
                )));
            }
        }
    }
}

/// `buffered`, or `left` if that is less.
fn at_most(buffered: usize, left: u64) -> usize {
    usize::try_from(left).map_or(buffered, |left| buffered.min(left))
}

/// Where a chunked body is after `line`, read in `state`.
fn after_line(state: Chunked, line: &[u8]) -> Result<Framing, WireError> {
    match state {
        Chunked::Size => {
            // A size may be followed by `;` and extensions, which mean nothing to maia.
            let size = line.split(|b| *b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| malformed("a chunk size that is not a hexadecimal number"))?;
            Ok(Framing::Chunked(match size {
                0 => Chunked::Trailers,
                n => Chunked::Data(n),
            }))
        }
        Chunked::DataEnd if line.is_empty() => Ok(Framing::Chunked(Chunked::Size)),
        Chunked::DataEnd => Err(malformed("a chunk longer than its size")),
        // Trailers mean nothing to maia; the empty line after them ends the body.
        Chunked::Trailers if line.is_empty() => Ok(Framing::Ended),
        Chunked::Trailers | Chunked::Data(_) => Ok(Framing::Chunked(state)),
    }
}

/// Whether a `Connection` header's options include `close`.
fn names_close(value: &[u8]) -> bool {
    std::str::from_utf8(value)
        .unwrap_or_default()
        .split(',')
        .any(|option| option.trim().eq_ignore_ascii_case("close"))
}

/// The status and framing of a parsed head.
fn head_of(parsed: &httparse::Response<'_, '_>) -> Result<Head, WireError> {
    let status = parsed.code.ok_or_else(|| malformed("no status"))?;
    let mut chunked = false;
    let mut length: Option<u64> = None;
    let mut keep_alive = parsed.version == Some(1);
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            keep_alive &= !names_close(header.value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = std::str::from_utf8(header.value).unwrap_or_default();
            // maia asks for no encoding; anything but chunked is not something it reads.
            if !value
                .split(',')
                .all(|c| c.trim().eq_ignore_ascii_case("chunked"))
            {
                return Err(malformed(format!("transfer-encoding {value:?}")));
            }
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| malformed("a content-length that is not a number"))?;
            if length.is_some_and(|l| l != value) {
                return Err(malformed("two different content-lengths"));
            }
            length = Some(value);
        }
    }
    let framing = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => Framing::Ended,
        (_, true, _) => Framing::Chunked(Chunked::Size),
        (_, false, Some(n)) => Framing::Length(n),
        (_, false, None) => Framing::UntilClose,
    };
    Ok(Head {
        status,
        reason: parsed.reason.unwrap_or_default().to_string(),
        framing,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A connection whose reads hand over the given pieces, one a read, then its end; and
    /// whether it was given back for another request.
    struct Pieces(VecDeque<Vec<u8>>, bool);

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.0.push_front(piece.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl Reuse for Pieces {
        fn reuse(&mut self) {
            assert!(!self.1, "given back twice");
            self.1 = true;
        }
    }

    fn cut(bytes: &[u8], size: usize) -> Pieces {
        Pieces(bytes.chunks(size).map(<[u8]>::to_vec).collect(), false)
    }

    /// Whether the connection of `wire`, read to the end of its body, is given back.
    async fn given_back(wire: &[u8]) -> bool {
        let mut response = Response::read(cut(wire, 5)).await.unwrap();
        response.body.read_to_end(1024).await.unwrap();
        response.body.stream.1
    }

    #[tokio::test]
    async fn only_a_connection_read_to_the_end_of_a_framed_body_is_given_back() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert!(given_back(length).await);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\nhello\r\n0\r\n\r\n";
        assert!(given_back(chunked).await);
        assert!(given_back(b"HTTP/1.1 204 No Content\r\n\r\n").await);
        let closing = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n\
            Content-Length: 5\r\n\r\nhello";
        assert!(!given_back(closing).await, "Connection: close");
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert!(!given_back(old).await, "HTTP/1.0");
        let until_close = b"HTTP/1.1 200 OK\r\n\r\nhello";
        assert!(
            !given_back(until_close).await,
            "a body that ends at the close"
        );
        let more = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
        assert!(!given_back(more).await, "bytes past the body");
        // A body left before its end: the connection is not given back.
        let mut response = Response::read(cut(chunked, 50)).await.unwrap();
        assert_eq!(response.body.chunk().await.unwrap(), Some(&b"hello"[..]));
        assert!(!response.body.stream.1);
    }

    /// The status and whole body of `bytes`, read in pieces of `size` bytes.
    async fn response(bytes: &[u8], size: usize) -> Result<(u16, Vec<u8>), WireError> {
        let mut response = Response::read(cut(bytes, size)).await?;
        let mut body = Vec::new();
        while let Some(piece) = response.body.chunk().await? {
            assert!(!piece.is_empty(), "an empty piece");
            body.extend_from_slice(piece);
        }
        assert!(response.body.chunk().await?.is_none(), "the end, again");
        Ok((response.status, body))
    }

    /// `bytes` read in pieces of every size from 1 to its length give `status` and `body`.
    async fn every_cut_gives(bytes: &[u8], status: u16, body: &[u8]) {
        for size in 1..=bytes.len() {
            let got = response(bytes, size).await;
            let (got_status, got_body) = got.unwrap_or_else(|e| panic!("pieces of {size}: {e}"));
            assert_eq!(got_status, status, "pieces of {size}");
            assert_eq!(
                String::from_utf8_lossy(&got_body),
                String::from_utf8_lossy(body),
                "pieces of {size}"
            );
        }
    }

    #[tokio::test]
    async fn a_chunked_body_comes_out_whole_however_it_is_cut() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\
            Transfer-Encoding: chunked\r\n\r\n\
            b\r\n{\"a\":\"\xc3\xa9\"}\n\r\n\
            10;name=value\r\n{\"b\":1}\n{\"c\":2}\n\r\n\
            0\r\nX-Trailer: yes\r\n\r\n";
        every_cut_gives(wire, 200, b"{\"a\":\"\xc3\xa9\"}\n{\"b\":1}\n{\"c\":2}\n").await;
    }

    #[tokio::test]
    async fn a_body_of_a_length_or_until_the_close_and_interim_heads_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n\
            Content-Length: 5\r\n\r\nhello and what follows is not the body";
        every_cut_gives(wire, 404, b"hello").await;
        let wire = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"version\":\"0.5\"}";
        every_cut_gives(wire, 200, b"{\"version\":\"0.5\"}").await;
        every_cut_gives(b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"").await;
    }

    async fn refused(bytes: &[u8]) -> String {
        match response(bytes, 7).await {
            Ok((status, body)) => panic!("read as {status} {}", String::from_utf8_lossy(&body)),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn what_is_not_http_or_ends_early_is_named() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let cases: [(String, &str); 8] = [
            ("SSH-2.0-OpenSSH_9.2\r\n\r\n".into(), "not HTTP/1.1"),
            (
                format!("{chunked}zz\r\nabc\r\n0\r\n\r\n"),
                "not a hexadecimal number",
            ),
            (
                format!("{chunked}3\r\nabcdef\r\n0\r\n\r\n"),
                "longer than its size",
            ),
            (
                format!("{chunked}{}\r\n", "1".repeat(2 * MAX_LINE_BYTES)),
                "too long",
            ),
            (
                format!("{chunked}a\r\nabc"),
                "closed before the end of the body",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc".into(),
                "closed before the end",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n".into(),
                "two different",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n".into(),
                "transfer-encoding \"gzip\"",
            ),
        ];
        for (wire, expected) in cases {
            let error = refused(wire.as_bytes()).await;
            assert!(error.contains(expected), "{wire:?}: {error}");
        }
        let error = refused(b"HTTP/1.1 200 OK\r\nContent-").await;
        assert!(error.contains("before the answer's head"), "{error}");
        let endless = format!(
            "HTTP/1.1 200 OK\r\n{}",
            "X-Filler: 0123456789\r\n".repeat(1000)
        );
        let error = refused(endless.as_bytes()).await;
        assert!(error.contains("not HTTP/1.1"), "{error}");
    }

    #[tokio::test]
    async fn a_body_past_its_bound_is_refused() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        let mut response = Response::read(cut(wire, 4)).await.unwrap();
        let error = response.body.read_to_end(9).await.unwrap_err();
        assert!(matches!(error, WireError::TooLong(9)), "{error}");
        let mut response = Response::read(cut(wire, 4)).await.unwrap();
        assert_eq!(response.body.read_to_end(10).await.unwrap(), b"0123456789");
    }

    #[test]
    fn the_request_names_its_host_and_the_urls_credentials() {
        let no_tls = || Err::<rustls::ClientConfig, _>("no TLS here".to_string());
        let url = Url::parse("http://proxy%20user:p%40ss@[::1]:8080/ollama/").unwrap();
        let endpoint = Endpoint::new(&url, no_tls).unwrap();
        let request = endpoint.request("POST", "/ollama/api/chat", Some(b"{}"));
        let request = String::from_utf8(request).unwrap();
        assert!(
            request.starts_with("POST /ollama/api/chat HTTP/1.1\r\nHost: [::1]:8080\r\n"),
            "{request}"
        );
        let credentials = base64::engine::general_purpose::STANDARD.encode("proxy user:p@ss");
        assert!(
            request.contains(&format!("\r\nAuthorization: Basic {credentials}\r\n")),
            "{request}"
        );
        assert!(
            request.ends_with("Content-Length: 2\r\n\r\n{}"),
            "{request}"
        );
        let url = Url::parse("http://localhost/").unwrap();
        let request = Endpoint::new(&url, no_tls)
            .unwrap()
            .request("GET", "/api/tags", None);
        let request = String::from_utf8(request).unwrap();
        assert!(request.contains("\r\nHost: localhost\r\n"), "{request}");
        assert!(!request.contains("Content-Length") && !request.contains("Authorization"));
        let https = Url::parse("https://ollama.example/").unwrap();
        let error = Endpoint::new(&https, no_tls).err().unwrap();
        assert_eq!(error, "no TLS here");
        let other = Url::parse("ftp://ollama.example/").unwrap();
        assert!(Endpoint::new(&other, no_tls).err().unwrap().contains("ftp"));
    }
}
