//! The `prices` job and how every instance follows it (D30).
//!
//! The refresh itself is a job of the job engine (`crates/jobs`, `prices`, every 30 s): its
//! tick is claimed once across every process through `job_runs`, retried on failure and taken
//! over from a dead worker like every other job. [`PriceService::tick`] is what that job runs.
//!
//! Every instance — whether it runs jobs or only serves HTTP — keeps its in-memory cache in step
//! with the ticks run elsewhere through a [`PriceFollower`]: after each slot boundary it waits
//! for the slot's `prices` run to finish (at most half an interval) and reloads the stored state;
//! it also reloads as soon as another instance publishes a tick on the bus (Redis), so admin
//! overrides reach every instance within one bus hop, or at the latest at the next slot
//! (≤ 30 s) without a shared bus.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use blu_domain::Timestamp;
use tokio::task::JoinHandle;

use super::service::{PriceService, RefreshReport};
use crate::ports::{StoreError, real_now};

/// The job's name in `job_runs`.
pub const PRICES_JOB: &str = "prices";

/// How soon a follower first checks whether the slot's run has finished; each later check waits
/// twice as long, up to [`FINISH_POLL_MAX`]. A tick usually finishes within a second, so the
/// first checks are close; when no process runs jobs (an API-only deployment whose worker is
/// down, or the benchmark) the follower then asks the database a few times per slot instead of
/// five times a second for half of every interval.
const FINISH_POLL: Duration = Duration::from_millis(200);
const FINISH_POLL_MAX: Duration = Duration::from_secs(2);

impl PriceService {
    /// One `prices` tick (run by the job engine): start from the stored state — another
    /// instance may have run the previous ticks or set overrides, and nothing it wrote may be
    /// lost or masked — then fetch, persist and publish.
    pub async fn tick(&self) -> Result<RefreshReport, StoreError> {
        let started = real_now();
        self.reload().await?;
        let report = self.refresh().await?;
        self.last_local_tick
            .fetch_max(started.as_micros(), Ordering::Relaxed);
        Ok(report)
    }

    /// Waits until the `prices` run of `slot` has finished (at most `wait`; it may run
    /// nowhere, e.g. when no process runs jobs) and reloads the stored state — unless this
    /// instance ran that tick itself, when its cache already is the stored state.
    pub async fn reload_after_tick(
        &self,
        slot: Timestamp,
        wait: Duration,
    ) -> Result<(), StoreError> {
        let ran_here = || self.last_local_tick.load(Ordering::Relaxed) >= slot.as_micros();
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = FINISH_POLL;
        while tokio::time::Instant::now() < deadline
            && !ran_here()
            && !self.store().job_tick_finished(PRICES_JOB, slot).await?
        {
            tokio::time::sleep(
                pause.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
            )
            .await;
            pause = (pause * 2).min(FINISH_POLL_MAX);
        }
        if ran_here() {
            return Ok(());
        }
        self.reload().await
    }

    /// Starts following the `prices` ticks (see the module documentation); stops when the
    /// returned handle is stopped or dropped.
    pub fn follow(self: Arc<Self>, interval: Duration) -> PriceFollower {
        let service = self;
        let handle = tokio::spawn(async move {
            let mut ticks = service.bus().subscribe();
            loop {
                let next = real_now().floor_to(interval).as_micros()
                    + i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
                let sleep = Duration::from_micros(
                    u64::try_from(next - real_now().as_micros()).unwrap_or(0),
                );
                let wake = tokio::time::sleep(sleep);
                tokio::pin!(wake);
                loop {
                    tokio::select! {
                        () = &mut wake => break,
                        tick = ticks.recv() => match tick {
                            Ok(tick) if service.published_here(tick.at) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                ticks = service.bus().subscribe();
                            }
                            // Another instance's tick (or missed ticks): take its state.
                            _ => {
                                if let Err(error) = service.reload().await {
                                    tracing::warn!(%error, "price reload after a bus tick failed");
                                }
                            }
                        },
                    }
                }
                let slot = Timestamp::from_micros(next);
                if let Err(error) = service.reload_after_tick(slot, interval / 2).await {
                    tracing::warn!(%error, "price reload after a tick failed");
                }
            }
        });
        PriceFollower { handle }
    }
}

/// The running follower; stopped on `stop()` or when dropped.
pub struct PriceFollower {
    handle: JoinHandle<()>,
}

impl PriceFollower {
    pub fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for PriceFollower {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
