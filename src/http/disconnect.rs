//! Noticing that a client went away while its request is being answered: actix keeps
//! working on a request whose client has closed the connection, so an answer nobody will
//! read would still cost a whole model call.
//!
//! Each TCP connection gets a second handle on its socket (a duplicate file descriptor,
//! made when the connection is accepted); a handler can wait on it for the end of the
//! stream, peeking only, so nothing the client sends is taken from the server.

use std::any::Any;
use std::os::fd::AsFd;

use actix_web::dev::Extensions;
use actix_web::HttpRequest;

/// A duplicate of the connection's socket, kept in the connection's data.
pub struct ClientSocket(std::net::TcpStream);

/// `HttpServer::on_connect`: keeps a duplicate of a TCP connection's socket.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
        data.insert(ClientSocket(std::net::TcpStream::from(fd)));
    }
}

impl ClientSocket {
    /// Shuts the read side of a connection being refused. actix, answering a request
    /// whose body it did not read, lingers until the client closes or for a second,
    /// reading what it still sends: a client keeping its refused connections open would
    /// make each refusal hold a worker's place that long, while every other client waits
    /// behind them in the listen queue. Reading nothing more ends the linger at once,
    /// after the refusal is written.
    pub fn stop_reading(&self) {
        if let Err(e) = self.0.shutdown(std::net::Shutdown::Read) {
            tracing::debug!(error = %e, "cannot shut a refused connection's read side");
        }
    }
}

/// Resolves when the client of `req` has closed or reset its connection; never when that
/// cannot be told (no socket, or the client sent more: a pipelined request is not a
/// goodbye).
pub fn client_gone(req: &HttpRequest) -> impl std::future::Future<Output = ()> {
    let socket = req
        .conn_data::<ClientSocket>()
        .and_then(|s| s.0.try_clone().ok());
    async move {
        match socket.and_then(|s| tokio::net::TcpStream::from_std(s).ok()) {
            Some(socket) => wait_for_end(socket).await,
            None => std::future::pending().await,
        }
    }
}

async fn wait_for_end(socket: tokio::net::TcpStream) {
    let mut byte = [0u8; 1];
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        match socket.peek(&mut byte).await {
            Ok(0) => return,
            Ok(_) => return std::future::pending().await,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}
