//! The real `blu serve` process stopped under load (issue 10, item 3): SIGTERM finishes the
//! work in flight and exits 0 within the grace, every time; SIGKILL loses nothing that was
//! acknowledged, and the restarted server lets the interrupted keys be retried at once.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::{
    Outcome, add_funds, assert_ledger_whole, free_port, random_millis,
    sessions_left_in_a_transaction, settle_add_funds,
};
use crate::helpers::TestApp;

const GRACE_SECONDS: u64 = 5;

/// The environment of a `blu serve` process: a fresh database, pinned prices, jobs on.
async fn process_vars() -> HashMap<String, String> {
    let mut vars = super::fault_vars().await;
    vars.insert("PORT".into(), free_port().to_string());
    vars.insert("SHUTDOWN_GRACE_SECONDS".into(), GRACE_SECONDS.to_string());
    vars.insert("RUN_JOBS".into(), "true".into());
    vars.insert("RUST_LOG".into(), "warn".into());
    vars
}

fn serve(vars: &HashMap<String, String>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_blu"))
        .arg("serve")
        .env_clear()
        .envs(vars)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("blu serve starts")
}

/// A client of the process (the in-process fields of `TestApp` are not used).
fn client_of(vars: &HashMap<String, String>) -> TestApp {
    TestApp {
        address: format!("http://127.0.0.1:{}", vars["PORT"]),
        client: blu_integrations::http::client(Duration::from_secs(30)),
        price_bus: Arc::new(blu_integrations::prices::MemoryPriceBus::new()),
        auth: None,
        _shutdown: tokio::sync::oneshot::channel().0,
    }
}

async fn wait_healthy(app: &TestApp, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Ok(r) = app.client.get(app.url("/health")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "blu serve exited");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "blu serve never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([name, &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Keyed add-funds from two clients until `stop`; each key's outcome is returned.
async fn load(app: &TestApp, token: &str, round: usize, stop: &AtomicBool) -> Vec<(String, u64)> {
    let lane = |lane: usize| async move {
        let mut keys = Vec::new();
        let mut i = 0_u64;
        while !stop.load(Ordering::SeqCst) {
            let key = format!("round-{round}-{lane}-{i}");
            let amount = 1_000_000 + (round as u64) * 10_000 + (lane as u64) * 1_000 + i;
            let outcome = add_funds(app, token, &key, amount, Duration::from_secs(15)).await;
            if let Outcome::Answered(status) = outcome {
                assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{key}");
            }
            keys.push((key, amount));
            i += 1;
            tokio::time::sleep(random_millis(0, 20)).await;
        }
        keys
    };
    let (a, b) = tokio::join!(lane(0), lane(1));
    a.into_iter().chain(b).collect()
}

/// A raw WebSocket left open across the shutdown: the server must close it (1012), not wait
/// for it.
async fn open_price_stream(app: &TestApp, token: &str) -> impl Sized {
    let url = format!(
        "{}/api/v1/prices/stream",
        app.address.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!("Bearer-{token}")).unwrap(),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade completes")
        .0
}

/// Runs `rounds` rounds of: start, load, stop with `signal_name`; then a last start to check
/// the books. Returns nothing; asserts every invariant.
async fn stop_under_load(rounds: usize, signal_name: &str) {
    let vars = process_vars().await;
    let app = client_of(&vars);
    let mut session = None;
    let mut keys = Vec::new();
    for round in 0..rounds {
        let mut child = serve(&vars);
        wait_healthy(&app, &mut child).await;
        if session.is_none() {
            session = Some(app.funded(1_000_000_000).await);
        }
        let (user, _) = session.as_ref().unwrap();
        let _stream = open_price_stream(&app, &user.access).await;
        let stop = AtomicBool::new(false);
        let stopping = async {
            tokio::time::sleep(random_millis(200, 600)).await;
            signal(&child, signal_name);
            let exit = tokio::time::timeout(Duration::from_secs(GRACE_SECONDS + 5), child.wait())
                .await
                .expect("the server stopped within its grace")
                .unwrap();
            stop.store(true, Ordering::SeqCst);
            exit
        };
        let (round_keys, exit) = tokio::join!(load(&app, &user.access, round, &stop), stopping);
        if signal_name == "-TERM" {
            assert!(exit.success(), "round {round}: {exit:?}");
        }
        keys.extend(round_keys);
    }
    let mut child = serve(&vars);
    wait_healthy(&app, &mut child).await;
    let (user, portfolio_id) = session.unwrap();
    for (key, amount) in &keys {
        settle_add_funds(&app, &user.access, key, *amount).await;
    }
    assert_ledger_whole(&app, &portfolio_id, 1 + keys.len()).await;
    if let Some(url) = vars.get("DATABASE_URL") {
        assert_eq!(sessions_left_in_a_transaction(url).await, 0);
    }
    signal(&child, "-TERM");
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_within_the_grace_ten_times_in_a_row() {
    stop_under_load(10, "-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_movement_and_the_restart_frees_its_keys() {
    stop_under_load(3, "-KILL").await;
}
