//! Connection limits: how many connections the workers hold in all, and how many one
//! client address may hold. Each accepted connection gets a slot in the per-address table
//! (`on_connect`); a request on a connection beyond its address's cap is refused with 429
//! and the connection closed (`middleware`).

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::ResponseError;

use super::disconnect::ClientSocket;
use super::error::ApiError;
use super::paths::PROBES;
use crate::config::Settings;

/// The workers' share of `http.max_connections`: actix counts per worker, maia's setting
/// is the total. Rounded down, so the total is never exceeded (but at least one each).
pub fn per_worker(total: usize, workers: usize) -> usize {
    (total / workers.max(1)).max(1)
}

/// The number of workers the server runs: `http.workers`, or one per CPU as actix picks.
pub fn workers(settings: &Settings) -> usize {
    match settings.http.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Open connections per client address, shared by every worker. An address has an entry
/// only while it has a connection open, so the table never holds more entries than there
/// are connections (at most `http.max_connections`).
pub struct ConnectionTable {
    per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionTable {
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new connection from `peer`; its slot gives the place back when dropped.
    fn open(self: &Arc<Self>, peer: IpAddr) -> Slot {
        let client = client_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        *count += 1;
        Slot {
            table: Arc::clone(self),
            client,
            over_cap: *count > self.per_client,
        }
    }

    /// For `HttpServer::on_connect`: the accepted connection's slot, in its data.
    pub fn on_connect(self: &Arc<Self>, io: &dyn Any, data: &mut Extensions) {
        let Some(stream) = io.downcast_ref::<TcpStream>() else {
            return;
        };
        if let Ok(peer) = stream.peer_addr() {
            data.insert(self.open(peer.ip()));
        }
    }

    fn close(&self, client: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&client);
            }
        }
    }

    /// Connections `peer`'s client holds now.
    #[cfg(test)]
    fn count(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&client_key(peer)).copied().unwrap_or(0)
    }
}

/// Who a connection is counted against: its address, or for IPv6 its /64, which one host
/// usually holds whole (else one client could take any number of slots).
fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) if !v6.is_loopback() => {
            IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into())
        }
        other => other,
    }
}

/// A connection's place in the table, kept in the connection's data until it closes.
pub struct Slot {
    table: Arc<ConnectionTable>,
    client: IpAddr,
    over_cap: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.close(self.client);
    }
}

/// For `HttpServer::on_connect`: a write deadline. Data the client leaves unacknowledged
/// for `limit`, including a receive window it keeps shut by not reading, makes the kernel
/// drop the connection (`TCP_USER_TIMEOUT`), and actix then frees the response it held.
pub fn set_write_deadline(io: &dyn Any, limit: Duration) {
    let Some(stream) = io.downcast_ref::<TcpStream>() else {
        return;
    };
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(limit)) {
        tracing::warn!(error = %e, "cannot set a write deadline on a connection");
    }
}

/// Refuses requests on a connection beyond its client's cap: 429 and the connection
/// closed. Probes are answered (and the connection closed): a health check from the
/// same address as a busy client, e.g. through a local proxy, must still see maia alive.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let cap = match req.conn_data::<Slot>() {
        Some(slot) if slot.over_cap => slot.table.per_client,
        _ => return Ok(next.call(req).await?.map_into_left_body()),
    };
    let mut response = if PROBES.contains(&req.path()) {
        next.call(req).await?.map_into_left_body()
    } else {
        if let Some(socket) = req.conn_data::<ClientSocket>() {
            socket.stop_reading();
        }
        let refusal = ApiError::TooManyConnections(cap).error_response();
        req.into_response(refusal).map_into_right_body()
    };
    response
        .response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_beyond_the_cap_are_marked_and_closing_frees_their_places() {
        let table = ConnectionTable::new(2);
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        let first = table.open(peer);
        let second = table.open(peer);
        let third = table.open(peer);
        assert!(!first.over_cap && !second.over_cap && third.over_cap);
        drop(third);
        drop(first);
        assert_eq!(table.count(peer), 1);
        assert!(!table.open(peer).over_cap);
        drop(second);
        assert!(
            table.open.lock().unwrap().is_empty(),
            "no entry outlives its connections"
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_one_by_its_address() {
        let table = ConnectionTable::new(1);
        let _a = table.open("2001:db8:1:2::1".parse().unwrap());
        let b = table.open("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = table.open("2001:db8:1:3::1".parse().unwrap());
        assert!(b.over_cap && !c.over_cap);
        let _d = table.open("192.0.2.1".parse().unwrap());
        assert!(table.open("::ffff:192.0.2.1".parse().unwrap()).over_cap);
    }

    #[test]
    fn each_worker_gets_its_share_of_the_total_and_never_none() {
        assert_eq!(per_worker(1024, 2), 512);
        assert_eq!(per_worker(1025, 4), 256);
        assert_eq!(per_worker(3, 8), 1);
        assert_eq!(per_worker(10, 0), 10);
    }
}
