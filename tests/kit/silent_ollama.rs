//! An "Ollama" that reads each request and never answers, and notes when the caller hangs
//! up: what a test needs to see that maia cancels a call (the actix-based fake cannot tell,
//! as actix does not notice a peer that goes away).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// What each connection saw: when its request had arrived, and when the caller closed it.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub asked_at: Option<Instant>,
    pub closed_at: Option<Instant>,
}

pub struct SilentOllama {
    port: u16,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentOllama {
    pub async fn start() -> SilentOllama {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let shared = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let calls = shared.clone();
                tokio::spawn(async move {
                    let index = {
                        let mut calls = calls.lock().unwrap();
                        calls.push(Call::default());
                        calls.len() - 1
                    };
                    let mut buffer = [0u8; 4096];
                    loop {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            // The request's head and body (small here) have come.
                            Ok(_) => calls.lock().unwrap()[index]
                                .asked_at
                                .get_or_insert(Instant::now()),
                        };
                    }
                    calls.lock().unwrap()[index].closed_at = Some(Instant::now());
                });
            }
        });
        SilentOllama { port, calls, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for SilentOllama {
    fn drop(&mut self) {
        self.task.abort();
    }
}
