//! Operator adjustments of the job catalog, applied around `jobs::catalog`:
//! - `JOB_INTERVALS` runs named jobs every N seconds instead of on their catalog schedule;
//! - in test-clock mode with Redis, every run first adopts the shared business time. Instances
//!   serving HTTP adopt it before each request, but `blu worker` serves none, so without this its
//!   jobs would keep running at real time after `POST /admin/v1/clock/advance`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::BusinessClock;
use blu_jobs::{Job, Schedule};

/// The business clock shared through Redis (`TEST_CLOCK` with `REDIS_URL`).
#[derive(Clone)]
pub struct SharedClock {
    pub redis: redis::aio::ConnectionManager,
    pub key_prefix: String,
    pub clock: Arc<BusinessClock>,
}

impl SharedClock {
    async fn adopt(&self) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        blu_api::routes::clock::adopt_shared_offset(&mut redis, &self.key_prefix, &self.clock)
            .await
            .map_err(|e| anyhow::anyhow!("reading the shared test clock: {e}"))
    }
}

/// A catalog job with an operator's schedule and/or the shared test clock.
struct Adjusted {
    job: Arc<dyn Job>,
    every: Option<Duration>,
    clock: Option<SharedClock>,
}

#[async_trait]
impl Job for Adjusted {
    fn name(&self) -> &'static str {
        self.job.name()
    }

    fn schedule(&self) -> Schedule {
        self.every
            .map_or_else(|| self.job.schedule(), Schedule::Every)
    }

    async fn run(&self) -> anyhow::Result<serde_json::Value> {
        // A run at the wrong business time could settle or liquidate at the wrong moment:
        // failing (and being retried) is safer than running on a stale offset.
        if let Some(clock) = &self.clock {
            clock.adopt().await?;
        }
        self.job.run().await
    }
}

/// Wraps the jobs that an interval or the shared clock applies to; the others are unchanged.
pub fn apply(
    jobs: Vec<Arc<dyn Job>>,
    intervals: &[(String, Duration)],
    clock: Option<SharedClock>,
) -> Vec<Arc<dyn Job>> {
    jobs.into_iter()
        .map(|job| {
            let every = intervals
                .iter()
                .find(|(name, _)| name == job.name())
                .map(|(_, every)| *every);
            if every.is_none() && clock.is_none() {
                return job;
            }
            Arc::new(Adjusted {
                job,
                every,
                clock: clock.clone(),
            }) as Arc<dyn Job>
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Daily;

    #[async_trait]
    impl Job for Daily {
        fn name(&self) -> &'static str {
            "reminders"
        }

        fn schedule(&self) -> Schedule {
            Schedule::DailyAt {
                hour: 5,
                minute: 30,
            }
        }

        async fn run(&self) -> anyhow::Result<serde_json::Value> {
            Ok(serde_json::json!({"ran": true}))
        }
    }

    #[tokio::test]
    async fn an_interval_replaces_only_the_named_jobs_schedule_and_keeps_its_run() {
        let every = vec![("reminders".to_owned(), Duration::from_secs(3))];
        let tuned = apply(vec![Arc::new(Daily)], &every, None);
        assert_eq!(tuned[0].name(), "reminders");
        assert_eq!(tuned[0].schedule(), Schedule::Every(Duration::from_secs(3)));
        assert_eq!(
            tuned[0].run().await.unwrap(),
            serde_json::json!({"ran": true})
        );
        let other = vec![("loan-health".to_owned(), Duration::from_secs(2))];
        let untouched = apply(vec![Arc::new(Daily)], &other, None);
        assert_eq!(
            untouched[0].schedule(),
            Schedule::DailyAt {
                hour: 5,
                minute: 30
            }
        );
    }
}
