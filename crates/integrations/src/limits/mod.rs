//! Sliding-window rate limiters: in memory (one process) and in Redis (shared by every instance),
//! the latter behind a failover to memory while Redis is away.

mod failover;
mod memory;
mod redis;

pub use failover::FailoverRateLimiter;
pub use memory::MemoryRateLimiter;
pub use redis::RedisRateLimiter;
