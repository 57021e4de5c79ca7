//! Live-streaming adapters shared by every instance: session revocations and per-user price
//! connection slots, in memory (one process) or in Redis (every instance).

mod pubsub;
mod revocations;
mod slots;

pub(crate) use pubsub::spawn_subscriber;
pub use revocations::{LocalRevocations, RedisRevocations};
pub use slots::{MemorySlots, RedisSlots};
