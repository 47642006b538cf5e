//! What every shell of threads and sockets around the protocol shares: socket set-up
//! ([`net`]) and the newest-wins hand-off between threads ([`latest`]).

pub mod latest;
pub mod net;
