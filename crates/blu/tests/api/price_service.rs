//! The price service against a real store (SQLite, or PostgreSQL when `DATABASE_URL` is set)
//! with scripted providers: failed providers keep old prices and timestamps, FX freshness,
//! overrides, daily closes, restarts, and the `prices` tick run once through the job engine and
//! followed by the other instances.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use blu_app::ports::{
    BusinessClock, Clock, DailyClose, FetchedPrice, FxSource, PriceBus, PriceOverride, PriceSource,
    PriceStore, PriceWrite, PricesStatus, SourceError, Store, StoreResult, StoredPrices, real_now,
};
use blu_app::prices::{PRICES_JOB, PriceService, PriceSettings};
use blu_domain::{AssetId, Timestamp};
use blu_integrations::prices::MemoryPriceBus;
use blu_jobs::catalog::PricesJob;
use blu_jobs::{EngineSettings, JobEngine};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::helpers::test_vars;

const MAX_AGE: Duration = Duration::from_secs(120);

/// A provider whose next answer the test sets.
struct Scripted<T> {
    answer: Mutex<Result<T, SourceError>>,
}

impl<T: Clone> Scripted<T> {
    fn new(answer: T) -> Arc<Scripted<T>> {
        Arc::new(Scripted {
            answer: Mutex::new(Ok(answer)),
        })
    }

    fn set(&self, answer: Result<T, SourceError>) {
        *self.answer.lock().unwrap() = answer;
    }

    fn get(&self) -> Result<T, SourceError> {
        self.answer.lock().unwrap().clone()
    }
}

#[async_trait]
impl PriceSource for Scripted<Vec<FetchedPrice>> {
    fn name(&self) -> &'static str {
        "coingecko"
    }
    async fn fetch_prices(&self) -> Result<Vec<FetchedPrice>, SourceError> {
        self.get()
    }
}

#[async_trait]
impl FxSource for Scripted<Decimal> {
    fn name(&self) -> &'static str {
        "bonbast"
    }
    async fn fetch_usd_irr(&self) -> Result<Decimal, SourceError> {
        self.get()
    }
}

fn price(asset: AssetId, usd: Decimal) -> FetchedPrice {
    FetchedPrice {
        asset,
        price_usd: usd,
        change_24h_pct: None,
    }
}

struct Harness {
    store: Arc<dyn PriceStore>,
    clock: Arc<BusinessClock>,
    fx: Arc<Scripted<Decimal>>,
    crypto: Arc<Scripted<Vec<FetchedPrice>>>,
    service: Arc<PriceService>,
}

async fn open_store() -> Arc<dyn Store> {
    let vars = test_vars(&[]).await;
    blu_store::connect(
        vars.get("DATABASE_URL").map(String::as_str),
        &PathBuf::from(&vars["DATA_DIR"]),
        4,
    )
    .await
    .unwrap()
    .into_store()
}

impl Harness {
    async fn new() -> Harness {
        Harness::on(open_store().await, BusinessClock::new())
    }

    fn on(store: Arc<dyn PriceStore>, clock: Arc<BusinessClock>) -> Harness {
        let fx = Scripted::new(dec!(1456000));
        let crypto = Scripted::new(vec![
            price(AssetId::Btc, dec!(97500)),
            price(AssetId::Eth, dec!(3200)),
        ]);
        let service = Harness::service(&store, &clock, fx.clone(), crypto.clone());
        Harness {
            store,
            clock,
            fx,
            crypto,
            service,
        }
    }

    fn service(
        store: &Arc<dyn PriceStore>,
        clock: &Arc<BusinessClock>,
        fx: Arc<Scripted<Decimal>>,
        crypto: Arc<Scripted<Vec<FetchedPrice>>>,
    ) -> Arc<PriceService> {
        let bus: Arc<dyn PriceBus> = Arc::new(MemoryPriceBus::new());
        Arc::new(PriceService::new(
            store.clone(),
            fx,
            vec![crypto],
            bus,
            clock.clone(),
            PriceSettings {
                max_age: MAX_AGE,
                ..PriceSettings::default()
            },
        ))
    }

    fn advance(&self, seconds: i64) {
        self.clock
            .advance_to_offset(self.clock.offset_micros() + seconds * 1_000_000);
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

fn down() -> SourceError {
    SourceError::Unreachable("http 503".to_owned())
}

#[tokio::test]
async fn a_failed_provider_keeps_the_old_price_and_timestamp_and_goes_stale() {
    let h = Harness::new().await;
    h.service.refresh().await.unwrap();
    let first = h.service.snapshot_at(h.now());
    let btc_at = first.price(AssetId::Btc).unwrap().fetched_at;

    h.crypto.set(Err(down()));
    h.advance(200);
    let report = h.service.refresh().await.unwrap();
    assert_eq!(report.failed_sources, ["coingecko"]);
    let later = h.service.snapshot_at(h.now());
    let btc = later.price(AssetId::Btc).unwrap();
    assert_eq!(btc.price_usd, dec!(97500));
    assert_eq!(btc.fetched_at, btc_at, "never re-stamped");
    assert_eq!(later.status(h.now(), MAX_AGE), PricesStatus::Stale);
    let refused = later
        .fresh_book(h.now(), MAX_AGE, &[AssetId::Btc])
        .unwrap_err();
    assert_eq!(refused, ["BTC"]);
    // FX kept refreshing, so only the asset is stale.
    assert!(later.fresh_book(h.now(), MAX_AGE, &[]).is_ok());
}

#[tokio::test]
async fn fx_failing_longer_than_the_limit_is_stale_and_refuses_money_movement() {
    let h = Harness::new().await;
    h.service.refresh().await.unwrap();
    let fx_at = h.service.snapshot_at(h.now()).fx.unwrap().fetched_at;
    h.fx.set(Err(down()));
    for _ in 0..3 {
        h.advance(50);
        h.service.refresh().await.unwrap();
    }
    let snapshot = h.service.snapshot_at(h.now());
    let fx = snapshot.fx.clone().unwrap();
    assert_eq!(fx.usd_irr, dec!(1456000), "the last good FX is kept");
    assert_eq!(fx.fetched_at, fx_at);
    assert_eq!(snapshot.status(h.now(), MAX_AGE), PricesStatus::Stale);
    let refused = snapshot
        .fresh_book(h.now(), MAX_AGE, &[AssetId::Btc])
        .unwrap_err();
    assert_eq!(refused, ["FX"]);
    // A zero rate is refused like a failure (never a guess).
    h.fx.set(Ok(Decimal::ZERO));
    h.service.refresh().await.unwrap();
    assert_eq!(h.service.snapshot_at(h.now()).fx.unwrap().fetched_at, fx_at);
}

#[tokio::test]
async fn an_override_masks_the_feed_and_stays_fresh_after_the_clock_moves() {
    let h = Harness::new().await;
    h.service.refresh().await.unwrap();
    let applied = h
        .service
        .set_price_override(AssetId::Btc, dec!(90000), None, None, None, test_audit())
        .await
        .unwrap();
    assert_eq!(applied.quote.price_irr, dec!(131040000000));
    h.service.refresh().await.unwrap();
    assert_eq!(
        h.service
            .snapshot_at(h.now())
            .price(AssetId::Btc)
            .unwrap()
            .price_usd,
        dec!(90000),
        "the feed's 97,500 is ignored while the override is active"
    );
    h.advance(86_400);
    h.service
        .set_fx_override(dec!(1500000), Some(3600), None, test_audit())
        .await
        .unwrap();
    let now = h.now();
    let snapshot = h.service.snapshot_at(now);
    let btc = snapshot.price(AssetId::Btc).unwrap();
    assert_eq!(btc.source, "manual");
    assert_eq!(btc.fetched_at, now, "re-stamped on read");
    let book = snapshot.fresh_book(now, MAX_AGE, &[AssetId::Btc]).unwrap();
    assert_eq!(book.price_irr(AssetId::Btc), Some(dec!(135000000000)));
    // ETH has no override: a day old, it is stale.
    assert!(snapshot.fresh_book(now, MAX_AGE, &[AssetId::Eth]).is_err());
    // The FX override expires after its TTL and the (day-old) feed FX shows again.
    h.advance(3601);
    let expired = h.service.snapshot_at(h.now());
    assert_eq!(expired.fx.unwrap().source, "bonbast");
    h.service
        .clear_override(Some(AssetId::Btc), test_audit())
        .await
        .unwrap();
    let cleared = h.service.snapshot_at(h.now());
    assert_eq!(cleared.price(AssetId::Btc).unwrap().price_usd, dec!(97500));
}

#[tokio::test]
async fn history_keeps_one_close_per_utc_day_the_last_price_seen() {
    let h = Harness::new().await;
    // Move to just after a UTC midnight so two refreshes share a day.
    let now = h.now().as_micros();
    let day = 86_400_000_000_i64;
    let to_next_midnight = (now.div_euclid(day) + 1) * day - now;
    h.clock
        .advance_to_offset(h.clock.offset_micros() + to_next_midnight + 60_000_000);
    h.service.refresh().await.unwrap();
    h.crypto.set(Ok(vec![price(AssetId::Btc, dec!(98000))]));
    h.advance(30);
    h.service.refresh().await.unwrap();
    h.advance(86_400);
    h.crypto.set(Ok(vec![price(AssetId::Btc, dec!(99000))]));
    h.service.refresh().await.unwrap();
    let closes = h.service.history(AssetId::Btc, 2).await.unwrap();
    let got: Vec<Decimal> = closes.iter().map(|c| c.close_usd).collect();
    assert_eq!(got, [dec!(98000), dec!(99000)]);
    assert_eq!(closes[1].close_irr, Some(dec!(144144000000)));
    assert_eq!(h.service.history(AssetId::Btc, 1).await.unwrap().len(), 1);
    // ETH was priced only on the first day.
    assert_eq!(h.service.history(AssetId::Eth, 2).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_restart_serves_the_last_known_prices_with_their_real_age() {
    let h = Harness::new().await;
    h.service.refresh().await.unwrap();
    h.service
        .set_price_override(AssetId::Sol, dec!(150), None, None, None, test_audit())
        .await
        .unwrap();
    let before = h.service.snapshot_at(h.now());
    h.advance(300);
    let restarted = Harness::on(h.store.clone(), h.clock.clone());
    restarted.service.reload().await.unwrap();
    let after = restarted.service.snapshot_at(h.now());
    assert_eq!(after.price(AssetId::Btc), before.price(AssetId::Btc));
    assert_eq!(after.fx, before.fx);
    assert_eq!(after.status(h.now(), MAX_AGE), PricesStatus::Stale);
    assert_eq!(after.price(AssetId::Sol).unwrap().source, "manual");
}

#[tokio::test]
async fn a_prices_tick_runs_once_through_the_engine_and_the_other_instance_loads_its_result() {
    let store = open_store().await;
    let clock = BusinessClock::new();
    let runner = Harness::on(store.clone(), clock.clone());
    let follower = Harness::on(store.clone(), clock.clone());
    runner
        .crypto
        .set(Ok(vec![price(AssetId::Btc, dec!(96000))]));
    // A daily tick keeps the test away from a slot boundary.
    let interval = Duration::from_secs(86_400);
    let engine = JobEngine::new(
        store.clone(),
        vec![Arc::new(PricesJob::new(runner.service.clone(), interval))],
        EngineSettings::default(),
    );
    let tick = real_now().floor_to(interval);
    let (ran, followed) = tokio::join!(
        engine.run_current_tick(PRICES_JOB),
        follower
            .service
            .reload_after_tick(tick, Duration::from_secs(10))
    );
    assert!(
        ran.unwrap().is_some(),
        "the first claim of the tick runs it"
    );
    followed.unwrap();
    let (x, y) = (
        runner.service.snapshot_at(runner.now()),
        follower.service.snapshot_at(runner.now()),
    );
    assert_eq!(x.price(AssetId::Btc).unwrap().price_usd, dec!(96000));
    assert_eq!(x.price(AssetId::Btc), y.price(AssetId::Btc));
    assert_eq!(x.fx, y.fx);
    // The tick is taken: a second instance starting now does not run it again.
    let again = JobEngine::new(
        store.clone(),
        vec![Arc::new(PricesJob::new(follower.service.clone(), interval))],
        EngineSettings::default(),
    );
    assert!(again.run_current_tick(PRICES_JOB).await.unwrap().is_none());
}

/// A price store that counts how often it is asked whether a job's tick has finished.
struct CountingTickChecks {
    inner: Arc<dyn PriceStore>,
    checks: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl PriceStore for CountingTickChecks {
    async fn load_prices(&self) -> StoreResult<StoredPrices> {
        self.inner.load_prices().await
    }
    async fn save_prices(&self, write: &PriceWrite) -> StoreResult<()> {
        self.inner.save_prices(write).await
    }
    async fn put_override(&self, o: &PriceOverride) -> StoreResult<()> {
        self.inner.put_override(o).await
    }
    async fn delete_override(
        &self,
        subject: &str,
        audit: Option<&blu_app::ports::AuditEntry>,
    ) -> StoreResult<bool> {
        self.inner.delete_override(subject, audit).await
    }
    async fn daily_closes(&self, asset: AssetId, from_day: &str) -> StoreResult<Vec<DailyClose>> {
        self.inner.daily_closes(asset, from_day).await
    }
    async fn job_tick_finished(&self, job: &str, scheduled_at: Timestamp) -> StoreResult<bool> {
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.job_tick_finished(job, scheduled_at).await
    }
}

#[tokio::test]
async fn a_follower_waiting_for_a_tick_nobody_runs_asks_the_database_a_few_times_not_five_a_second()
{
    let counting = Arc::new(CountingTickChecks {
        inner: open_store().await,
        checks: std::sync::atomic::AtomicUsize::new(0),
    });
    let follower = Harness::on(counting.clone(), BusinessClock::new());
    // No process runs jobs: the slot's run never finishes, so the follower waits it out.
    let tick = real_now().floor_to(Duration::from_secs(86_400));
    follower
        .service
        .reload_after_tick(tick, Duration::from_secs(3))
        .await
        .unwrap();
    // Checks at 0, 0.2, 0.6 and 1.4 s (each pause twice the last; the next one ends at the
    // deadline); every 200 ms it was 15.
    let checks = counting.checks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (2..=6).contains(&checks),
        "{checks} checks in 3 s of waiting"
    );
}

#[tokio::test]
async fn refreshes_and_overrides_publish_one_tick_on_the_bus() {
    let h = Harness::new().await;
    let mut ticks = h.service.bus().subscribe();
    h.service.refresh().await.unwrap();
    let tick = ticks.recv().await.unwrap();
    let assets: Vec<AssetId> = tick.prices.iter().map(|q| q.asset).collect();
    assert_eq!(assets, [AssetId::Btc, AssetId::Eth]);
    assert_eq!(tick.fx.as_ref().unwrap().usd_irr, dec!(1456000));
    assert!(h.service.published_here(tick.at));
    h.service
        .set_price_override(AssetId::Btc, dec!(90000), None, None, None, test_audit())
        .await
        .unwrap();
    let tick = ticks.recv().await.unwrap();
    assert_eq!(tick.prices.len(), 1);
    assert_eq!(tick.prices[0].source, "manual");
    assert_eq!(tick.prices[0].price_irr, dec!(131040000000));
}

/// An operator's audit row for the use cases that need one.
fn test_audit() -> blu_app::ports::AuditEntry {
    blu_app::operators::Actor::command_line("test").audit("test")
}
