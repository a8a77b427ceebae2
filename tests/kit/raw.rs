//! HTTP by hand over one TCP connection, for what a client library will not do: announce a
//! body and hold it back or trickle it, never read the answer, keep a connection open on
//! purpose, or come from another loopback address (Linux routes all of 127.0.0.0/8 to
//! loopback, so `127.0.0.2` is "another client" to a server on `127.0.0.1`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

/// The usual client address.
pub const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A loopback address other than `127.0.0.1`: client number `n` (1 to 250) elsewhere.
pub fn elsewhere(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + n))
}

/// A request head, ending in the blank line; `headers` are added as given.
pub fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// One connection to `127.0.0.1:port`.
pub struct RawConnection {
    stream: TcpStream,
    /// Read past the last response.
    buffer: Vec<u8>,
    /// Whether the server closed or reset it (seen while reading).
    ended: bool,
}

/// A response as it came: status, headers (names in lowercase), body.
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(300).collect();
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &shown)
            .finish()
    }
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl RawConnection {
    /// Connects from `from` (a loopback address).
    pub async fn open(port: u16, from: IpAddr) -> std::io::Result<Self> {
        Self::open_with(port, from, None).await
    }

    /// Connects from `from`, with a receive buffer of `receive_buffer` bytes if given (a
    /// small one makes a client that does not read stall the server's writes sooner).
    pub async fn open_with(
        port: u16,
        from: IpAddr,
        receive_buffer: Option<u32>,
    ) -> std::io::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        let stream = socket.connect(SocketAddr::new(HERE, port)).await?;
        Ok(Self {
            stream,
            buffer: Vec::new(),
            ended: false,
        })
    }

    /// Whether a read found the connection closed or reset by the server.
    pub fn ended(&self) -> bool {
        self.ended
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one response (a `content-length` body), up to `limit`; `None` if none came
    /// whole in time or the connection ended first.
    pub async fn response(&mut self, limit: Duration) -> Option<RawResponse> {
        timeout(limit, self.read_response()).await.ok().flatten()
    }

    async fn read_response(&mut self) -> Option<RawResponse> {
        let end = loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < end + 4 + length {
            self.fill().await?;
        }
        let rest = self.buffer.split_off(end + 4 + length);
        let body = self.buffer[end + 4..].to_vec();
        self.buffer = rest;
        Some(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Reads more into the buffer; `None` at the end of the stream or on an error.
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                self.ended = true;
                None
            }
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// Reads (and drops) whatever comes until the server closes the connection or resets
    /// it: the bytes read, or `None` if it was still open after `limit`.
    pub async fn read_until_closed(&mut self, limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        let mut read = std::mem::take(&mut self.buffer).len();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.stream.read(&mut chunk)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(read),
                Ok(Ok(n)) => read += n,
            }
        }
    }
}
