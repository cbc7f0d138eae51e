//! The protocol-neutral core of the server, below both front ends ([`crate::http`] and
//! [`crate::grpc`]): its settings ([`ServerConfig`]), what it serves and where it is in its
//! life ([`AppState`]), what every listener shares ([`Shared`]: the in-flight byte budget,
//! the parse pool, the process's connection slots), [`admission`] of connections and bodies,
//! scoring a decoded request on the served version ([`score_decoded`]), the timer floor, and
//! the drain on shutdown ([`drain_on`]).

pub mod admission;
mod config;
mod drain;
mod score;
mod state;
pub mod timer_floor;

pub use config::ServerConfig;
pub use drain::drain_on;
pub use score::{score_decoded, Scored, MODEL_VERSION_HEADER};
pub use state::{AppState, Phase, Shared};
