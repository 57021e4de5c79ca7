//! A TCP proxy on 127.0.0.1 that a test puts between the server and a dependency, to cut,
//! stall or slow the dependency without touching the real one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct State {
    /// New connections are accepted and closed at once (a refusing, restarting server).
    refusing: AtomicBool,
    /// Bytes stop flowing in both directions, connections stay open (a partition).
    stalled: AtomicBool,
    /// Replies (dependency → client) are held this long before they are passed on.
    reply_delay_ms: AtomicU64,
}

pub struct TcpProxy {
    pub port: u16,
    state: Arc<State>,
    /// Bumped by `cut`: every open connection closes.
    generation: watch::Sender<u64>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let (generation, _) = watch::channel(0_u64);
        let target = target.to_owned();
        let (task_state, task_generation) = (state.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if task_state.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let cut = task_generation.subscribe();
                tokio::spawn(relay(client, server, task_state.clone(), cut));
            }
        });
        TcpProxy {
            port,
            state,
            generation,
        }
    }

    /// Closes every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.state.refusing.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Stops every byte while keeping connections open (a network partition).
    pub fn stall(&self) {
        self.state.stalled.store(true, Ordering::SeqCst);
    }

    /// Holds every reply for `delay` before passing it on.
    pub fn delay_replies(&self, delay: Duration) {
        self.state
            .reply_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Back to a transparent proxy (connections cut earlier stay closed).
    pub fn restore(&self) {
        self.state.refusing.store(false, Ordering::SeqCst);
        self.state.stalled.store(false, Ordering::SeqCst);
        self.state.reply_delay_ms.store(0, Ordering::SeqCst);
    }
}

async fn relay(client: TcpStream, server: TcpStream, state: Arc<State>, cut: watch::Receiver<u64>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let upstream = pump(client_read, server_write, state.clone(), false);
    let downstream = pump(server_read, client_write, state, true);
    let mut cut = cut;
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = cut.changed() => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
    reply: bool,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        while state.stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delay = state.reply_delay_ms.load(Ordering::SeqCst);
        if reply && delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
