//! Fault tests: what maia does when its parts break, each bounded in time, loopback only.
//!
//! - R1 `db_restart`: PostgreSQL stopped and started again under a steady query load.
//! - R2 `ollama`: Ollama down, erroring, dying mid-answer, or slower than the timeout.
//! - R3 `concurrent_start`: four `maia serve` processes at once on an empty database.
//! - R4 `sigterm`: SIGTERM to `maia serve` with requests in flight.
//! - R5 `fuzz`: arbitrary bytes and JSON shapes to every endpoint.
//! - R6 `db_stall`: a database that stops answering without refusing anything.
//! - R7 `slow_clients`: a slowloris under a low open-files limit.
//! - R8 `streams`: a streamed answer's client leaving, Ollama dying mid-stream, SIGTERM
//!   with fifty streams open.
//! - R9 `export_roundtrip`: export, import into a fresh database, export again: the same
//!   bytes; an import twice changes nothing; an import keeps the rows already there; an
//!   import stopped halfway and run again ends with everything.
//! - R10 `ollama_hosts`: two Ollama servers under a steady load, one killed in the middle.

#[path = "../kit/mod.rs"]
mod kit;

mod concurrent_start;
mod db_restart;
mod db_stall;
mod export_roundtrip;
mod fuzz;
mod ollama;
mod ollama_hosts;
mod sigterm;
mod slow_clients;
mod streams;
