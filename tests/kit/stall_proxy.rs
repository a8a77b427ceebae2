//! A TCP proxy that can stop forwarding without closing anything: what a database looks
//! like when its process is stopped (SIGSTOP) or its host hangs. Nothing is refused or
//! reset; bytes just stop coming.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct StallProxy {
    port: u16,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    /// Forwards from a free loopback port to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> StallProxy {
        Self::start_at(0, upstream).await
    }

    /// Forwards from `127.0.0.1:port` to `127.0.0.1:upstream`: a database that comes up at
    /// a port a client was already given.
    pub async fn start_at(port: u16, upstream: u16) -> StallProxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::join!(pump(cr, sw, flag.clone()), pump(sr, cw, flag));
                    }
                });
            }
        });
        StallProxy {
            port,
            stalled,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops (true) or resumes (false) forwarding, on every connection.
    pub fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
