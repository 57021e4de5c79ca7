//! The `prices` refresh, once per 30-s tick across every instance (D30), until the general job
//! engine exists.
//!
//! Each instance wakes at every slot boundary (real time, `floor(now / interval)`) and tries to
//! claim the slot with an insert into `job_runs (job_name, scheduled_at)` (`ON CONFLICT DO
//! NOTHING`). The winner reloads the stored state (prices and overrides other instances wrote),
//! fetches, persists, publishes a tick and marks the run finished. The
//! others wait for that run to finish (polling `job_runs`, at most half an interval) and reload
//! their cache from the database. An instance also reloads when a tick published by another
//! instance arrives on the bus (Redis), so admin overrides reach every instance within one bus
//! hop, or at the latest at the next slot (≤ 30 s) without a shared bus.
//!
//! A crashed winner leaves its slot unfinished; nothing retries it, the next slot refreshes.

use std::sync::Arc;
use std::time::Duration;

use blu_domain::Timestamp;
use tokio::task::JoinHandle;

use super::service::PriceService;
use crate::ports::real_now;

/// The job's name in `job_runs`.
pub const PRICES_JOB: &str = "prices";

/// The start of the slot containing `now`.
pub fn slot_of(now: Timestamp, interval: Duration) -> Timestamp {
    let step = i64::try_from(interval.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    Timestamp::from_micros(now.as_micros().div_euclid(step) * step)
}

/// Whether this instance ran the refresh of a tick or reloaded another instance's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickOutcome {
    Refreshed,
    Reloaded,
}

impl PriceService {
    /// Runs the tick of `slot`: refresh when this instance wins the claim, else reload after
    /// the winner finishes (waiting at most `wait`).
    pub async fn run_tick(
        &self,
        slot: Timestamp,
        owner: &str,
        wait: Duration,
    ) -> anyhow::Result<TickOutcome> {
        let store = self.store().clone();
        if store
            .claim_job_tick(PRICES_JOB, slot, owner, real_now())
            .await?
        {
            // Another instance may have won the previous slots or set overrides: start from
            // the stored state so nothing it wrote is lost or masked.
            let result = match self.reload().await {
                Ok(()) => self.refresh().await,
                Err(e) => Err(e),
            };
            let error = result.as_ref().err().map(ToString::to_string);
            store
                .finish_job_tick(PRICES_JOB, slot, real_now(), error.as_deref())
                .await?;
            result?;
            return Ok(TickOutcome::Refreshed);
        }
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline
            && !store.job_tick_finished(PRICES_JOB, slot).await?
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.reload().await?;
        Ok(TickOutcome::Reloaded)
    }

    /// Starts the refresh loop on the runtime: one tick now, then one per slot. Returns when the
    /// first tick is done (or after `first_tick_timeout`), with the handle that stops the loop.
    pub async fn start(
        self: Arc<Self>,
        interval: Duration,
        first_tick_timeout: Duration,
    ) -> RefreshLoop {
        let owner = uuid::Uuid::new_v4().to_string();
        let (first_done, first) = tokio::sync::oneshot::channel::<()>();
        let service = self.clone();
        let handle = tokio::spawn(async move {
            let mut ticks = service.bus().subscribe();
            let mut first_done = Some(first_done);
            loop {
                let slot = slot_of(real_now(), interval);
                if let Err(error) = service.run_tick(slot, &owner, interval / 2).await {
                    tracing::warn!(%error, "prices tick failed");
                }
                if let Some(done) = first_done.take() {
                    let _ = done.send(());
                }
                let next = slot.as_micros() + i64::try_from(interval.as_micros()).unwrap_or(0);
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
            }
        });
        let _ = tokio::time::timeout(first_tick_timeout, first).await;
        RefreshLoop { handle }
    }
}

/// The running refresh loop; stopped on `stop()` or when dropped.
pub struct RefreshLoop {
    handle: JoinHandle<()>,
}

impl RefreshLoop {
    pub fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for RefreshLoop {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_starts_at_the_interval_boundary_at_or_before_now() {
        let t = Timestamp::parse_rfc3339("2026-01-20T12:00:47.250Z").unwrap();
        let slot = slot_of(t, Duration::from_secs(30));
        assert_eq!(slot.to_rfc3339_millis(), "2026-01-20T12:00:30.000Z");
        assert_eq!(slot_of(slot, Duration::from_secs(30)), slot);
    }
}
