//! What every shell of threads and sockets around the protocol shares: the one socket driver
//! loop ([`driver`]), socket set-up ([`net`]) and the newest-wins hand-off between threads
//! ([`latest`]).

pub mod batch;
pub mod driver;
pub mod latest;
pub mod net;
