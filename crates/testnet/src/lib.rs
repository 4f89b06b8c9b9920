//! The one harness that starts a DataHub network of real processes on loopback, for the CLI's
//! tests, `cargo xtask bench` and `cargo xtask faults`:
//!
//! - [`Dev`]: `datahub dev` as users run it (the relay, its nodes and anvil as its children),
//!   read until its `ready:` line, stopped with SIGTERM;
//! - [`RelayArgs`] and [`NodeArgs`] with [`start_relay`] and [`start_node`]: a relay and nodes
//!   as separate processes, for a caller that wants each one in its hands (killed, restarted on
//!   the same folder and port, put behind a proxy or on a disk of its own);
//! - [`Process`]: a child killed and reaped when dropped, so a failed test or case leaves
//!   nothing running; [`Lines`]: its standard output, read on a thread of its own;
//! - [`http_get`] and [`wait_for_nodes`]: enough HTTP to see when the network is whole.
//!
//! The binary is the caller's: a test passes `env!("CARGO_BIN_EXE_datahub")`, xtask the build it
//! made. Every function returns an [`std::io::Error`] saying what did not start, never panics.

mod dev;
mod net;
mod process;

pub use dev::{Dev, DevBuilder, DevNode, Stopped};
pub use net::{
    NodeArgs, RelayArgs, free_port, http_get, live_nodes, start_node, start_relay, url_in,
    wait_for_nodes,
};
pub use process::{Lines, Process, alive, kill_pid, start_logged};
