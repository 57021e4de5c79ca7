//! Sliding-window rate limiters: in memory (one process) and in Redis (shared by every instance).

mod memory;
mod redis;

pub use memory::MemoryRateLimiter;
pub use redis::RedisRateLimiter;
