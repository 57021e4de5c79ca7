//! Live sessions in memory (issue 12 item 1; D32 "access tokens carry the session id, checked on
//! every request"): an authenticated request checks its session here instead of reading the
//! store, and every revocation (logout, logout on all devices, refresh-token reuse, account
//! closure) reaches every instance's cache through the revocation bus that already closes
//! sockets (`ports::Revocations`: Redis pub/sub, in-process on the embedded default).
//!
//! What an entry may be trusted for, and why:
//! - **Revocations are applied here first.** [`Announcer`] is the revocation channel every
//!   revoking use case is given: it marks the sessions revoked in this instance's cache
//!   synchronously, then publishes on the bus, so the instance that revoked refuses the token
//!   on its very next request. Other instances apply the notice when it arrives (one bus hop),
//!   through [`SessionCache::follow`].
//! - **A read that raced a revocation is not cached.** A miss reads the store; the read may have
//!   started before a revocation committed and finish after its notice arrived here. Every
//!   applied revocation bumps an epoch; a live session read under an older epoch is returned to
//!   its request (it was live when read) but not cached. Revoked sessions are always cacheable:
//!   a revocation is final.
//! - **Bus down → no trust.** While the bus subscription is down (`Revocations::listening` is
//!   `None`: Redis unreachable, reconnecting) every request reads the store, as before this
//!   cache existed. When it comes back under a new subscription number the cache is emptied:
//!   notices published meanwhile are lost (pub/sub has no history). A local channel that lagged
//!   empties it too.
//! - **Entries are short-lived.** An entry is trusted for `max_age` (default 5 s) after it was
//!   read, however healthy the bus looks. That bounds what a notice lost without a visible
//!   disconnect costs (a PUBLISH that failed on the revoking instance while the others'
//!   subscriptions stayed up, a half-open subscription socket): such a revocation still takes
//!   effect everywhere within `max_age`. It also bounds the staleness of a session whose expiry
//!   a rotation on another instance extended (an entry past its expiry is re-read, never
//!   refused).
//! - **Bounded.** At most `capacity` entries; when full, stale entries go first, then an
//!   arbitrary quarter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use blu_domain::Timestamp;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::ports::{Revocation, Revocations, SessionRecord};

/// Size and trust window of the cache (`SESSION_CACHE_CAPACITY`, `SESSION_CACHE_MAX_AGE_MS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCacheSettings {
    /// Most sessions kept; 0 turns the cache off (every request reads the store).
    pub capacity: usize,
    /// How long an entry is trusted after it was read from the store.
    pub max_age: Duration,
}

impl Default for SessionCacheSettings {
    fn default() -> Self {
        SessionCacheSettings {
            capacity: 100_000,
            max_age: Duration::from_secs(5),
        }
    }
}

/// What the cache says about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Live,
    Revoked,
    /// The session belongs to another user than the token claims.
    OtherUser,
}

/// The answer of [`SessionCache::lookup`].
#[derive(Debug)]
pub enum Lookup {
    Hit(Verdict),
    /// Read the store, then hand the record and this ticket to [`SessionCache::insert`].
    Miss(Ticket),
}

/// The state of the cache when a store read started.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    epoch: u64,
    /// False while the bus is down: nothing read now may be trusted later.
    trusted: bool,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    user_id: Uuid,
    expires_at: Timestamp,
    revoked: bool,
    read_at: Instant,
}

#[derive(Default)]
struct State {
    entries: HashMap<Uuid, Entry>,
    /// Bumped by every applied revocation and every reset.
    epoch: u64,
    /// The bus subscription the entries were learned under.
    subscription: Option<u64>,
}

pub struct SessionCache {
    settings: SessionCacheSettings,
    state: RwLock<State>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl SessionCache {
    pub fn new(settings: SessionCacheSettings) -> Arc<SessionCache> {
        Arc::new(SessionCache {
            settings,
            state: RwLock::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached verdict on a session, or a ticket for reading it. `listening` is the bus's
    /// current subscription (`Revocations::listening`).
    pub fn lookup(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        now: Timestamp,
        listening: Option<u64>,
    ) -> Lookup {
        if self.settings.capacity == 0 || listening.is_none() {
            return self.miss(Ticket {
                epoch: 0,
                trusted: false,
            });
        }
        let epoch = {
            let state = self.read();
            if state.subscription == listening {
                if let Some(entry) = state.entries.get(&session_id)
                    && entry.read_at.elapsed() < self.settings.max_age
                    && (entry.revoked || entry.expires_at > now)
                {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Lookup::Hit(if entry.user_id != user_id {
                        Verdict::OtherUser
                    } else if entry.revoked {
                        Verdict::Revoked
                    } else {
                        Verdict::Live
                    });
                }
                Some(state.epoch)
            } else {
                None
            }
        };
        let epoch = epoch.unwrap_or_else(|| {
            // A new subscription: what was published while there was none is lost.
            let mut state = self.write();
            if state.subscription != listening {
                state.entries.clear();
                state.epoch += 1;
                state.subscription = listening;
            }
            state.epoch
        });
        self.miss(Ticket {
            epoch,
            trusted: true,
        })
    }

    fn miss(&self, ticket: Ticket) -> Lookup {
        self.misses.fetch_add(1, Ordering::Relaxed);
        Lookup::Miss(ticket)
    }

    /// Caches a session read from the store under `ticket`, unless a revocation (or a bus
    /// reset) was applied since the read started.
    pub fn insert(&self, ticket: Ticket, session: &SessionRecord) {
        if !ticket.trusted {
            return;
        }
        let revoked = session.revoked_at.is_some();
        let mut state = self.write();
        if !revoked && state.epoch != ticket.epoch {
            return;
        }
        self.make_room(&mut state);
        state.entries.insert(
            session.id,
            Entry {
                user_id: session.user_id,
                expires_at: session.expires_at,
                revoked,
                read_at: Instant::now(),
            },
        );
    }

    fn make_room(&self, state: &mut State) {
        if state.entries.len() < self.settings.capacity {
            return;
        }
        let max_age = self.settings.max_age;
        state.entries.retain(|_, e| e.read_at.elapsed() < max_age);
        let excess = state.entries.len() + 1;
        if excess > self.settings.capacity {
            let drop: Vec<Uuid> = state
                .entries
                .keys()
                .take((self.settings.capacity / 4).max(excess - self.settings.capacity))
                .copied()
                .collect();
            for id in drop {
                state.entries.remove(&id);
            }
        }
    }

    /// Applies a revocation: the session (or every cached session of the user) is refused from
    /// now on, and reads that started earlier are not cached.
    pub fn revoke(&self, revocation: &Revocation) {
        let mut state = self.write();
        state.epoch += 1;
        match revocation.session_id {
            Some(session_id) => {
                let now = Instant::now();
                let entry = state.entries.entry(session_id).or_insert(Entry {
                    user_id: revocation.user_id,
                    expires_at: Timestamp::from_micros(i64::MAX),
                    revoked: true,
                    read_at: now,
                });
                if entry.user_id == revocation.user_id {
                    entry.revoked = true;
                }
            }
            None => {
                for entry in state.entries.values_mut() {
                    if entry.user_id == revocation.user_id {
                        entry.revoked = true;
                    }
                }
            }
        }
    }

    /// Forgets everything (notices may have been missed).
    pub fn reset(&self) {
        let mut state = self.write();
        state.entries.clear();
        state.epoch += 1;
    }

    /// Lookups answered from memory and lookups that went to the store, since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Applies every revocation announced on the bus (by any instance) until the bus closes
    /// or the cache is dropped. A lagging receiver has missed notices: the cache is emptied.
    pub fn follow(self: &Arc<Self>, mut notices: broadcast::Receiver<Revocation>) {
        let cache: Weak<SessionCache> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let notice = notices.recv().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                match notice {
                    Ok(revocation) => cache.revoke(&revocation),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "revocation notices missed; session cache emptied");
                        cache.reset();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

/// The revocation channel given to every use case that revokes sessions: applies each
/// revocation to this instance's cache before publishing it, so this instance never answers
/// from a cache that has not seen its own revocation.
pub struct Announcer {
    cache: Arc<SessionCache>,
    bus: Arc<dyn Revocations>,
}

impl Announcer {
    pub fn new(cache: Arc<SessionCache>, bus: Arc<dyn Revocations>) -> Announcer {
        Announcer { cache, bus }
    }
}

#[async_trait]
impl Revocations for Announcer {
    async fn notify(&self, revocation: Revocation) {
        self.cache.revoke(&revocation);
        self.bus.notify(revocation).await;
    }

    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.bus.subscribe()
    }

    fn listening(&self) -> Option<u64> {
        self.bus.listening()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUS: Option<u64> = Some(1);

    fn cache() -> Arc<SessionCache> {
        SessionCache::new(SessionCacheSettings::default())
    }

    fn now() -> Timestamp {
        crate::ports::real_now()
    }

    fn session(user_id: Uuid) -> SessionRecord {
        let now = now();
        SessionRecord {
            id: Uuid::now_v7(),
            user_id,
            refresh_token_hash: String::new(),
            previous_refresh_token_hash: None,
            generation: 0,
            rotated_at: now,
            expires_at: now.plus_seconds(3600),
            revoked_at: None,
            user_agent: None,
            ip: None,
            created_at: now,
        }
    }

    fn ticket(cache: &SessionCache, s: &SessionRecord, bus: Option<u64>) -> Ticket {
        match cache.lookup(s.id, s.user_id, now(), bus) {
            Lookup::Miss(t) => t,
            Lookup::Hit(v) => panic!("unexpected hit {v:?}"),
        }
    }

    fn verdict(cache: &SessionCache, s: &SessionRecord, bus: Option<u64>) -> Option<Verdict> {
        match cache.lookup(s.id, s.user_id, now(), bus) {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_session_read_once_is_answered_from_memory() {
        let cache = cache();
        let s = session(Uuid::new_v4());
        let t = ticket(&cache, &s, BUS);
        cache.insert(t, &s);
        assert_eq!(verdict(&cache, &s, BUS), Some(Verdict::Live));
        let other = cache.lookup(s.id, Uuid::new_v4(), now(), BUS);
        assert!(matches!(other, Lookup::Hit(Verdict::OtherUser)));
        assert_eq!(cache.counts(), (2, 1));
    }

    #[test]
    fn a_revocation_is_refused_at_once_for_one_session_or_all_of_the_user() {
        let cache = cache();
        let user = Uuid::new_v4();
        let (a, b) = (session(user), session(user));
        for s in [&a, &b] {
            let t = ticket(&cache, s, BUS);
            cache.insert(t, s);
        }
        cache.revoke(&Revocation {
            user_id: user,
            session_id: Some(a.id),
        });
        assert_eq!(verdict(&cache, &a, BUS), Some(Verdict::Revoked));
        assert_eq!(verdict(&cache, &b, BUS), Some(Verdict::Live));
        cache.revoke(&Revocation {
            user_id: user,
            session_id: None,
        });
        assert_eq!(verdict(&cache, &b, BUS), Some(Verdict::Revoked));
    }

    #[test]
    fn a_live_read_that_raced_a_revocation_is_not_cached() {
        let cache = cache();
        let s = session(Uuid::new_v4());
        // The read starts, the revocation's notice arrives, then the (stale) read completes.
        let t = ticket(&cache, &s, BUS);
        cache.revoke(&Revocation {
            user_id: s.user_id,
            session_id: None,
        });
        cache.insert(t, &s);
        assert_eq!(verdict(&cache, &s, BUS), None, "read again from the store");
        // A revoked record is final and always cacheable.
        let mut revoked = s.clone();
        revoked.revoked_at = Some(now());
        let t = ticket(&cache, &s, BUS);
        cache.revoke(&Revocation {
            user_id: Uuid::new_v4(),
            session_id: None,
        });
        cache.insert(t, &revoked);
        assert_eq!(verdict(&cache, &s, BUS), Some(Verdict::Revoked));
    }

    #[test]
    fn nothing_is_trusted_while_the_bus_is_down_and_a_new_subscription_starts_empty() {
        let cache = cache();
        let s = session(Uuid::new_v4());
        let t = ticket(&cache, &s, None);
        cache.insert(t, &s);
        assert_eq!(verdict(&cache, &s, BUS), None, "read while down: not kept");
        let t = ticket(&cache, &s, BUS);
        cache.insert(t, &s);
        assert_eq!(verdict(&cache, &s, BUS), Some(Verdict::Live));
        assert_eq!(verdict(&cache, &s, None), None, "down: bypassed");
        // Reconnected under a new subscription: notices may have been lost meanwhile.
        let t = ticket(&cache, &s, Some(2));
        assert_eq!(verdict(&cache, &s, Some(2)), None);
        // A read that started under the old subscription is not cached.
        let stale = t;
        let _ = ticket(&cache, &s, Some(3));
        cache.insert(stale, &s);
        assert_eq!(verdict(&cache, &s, Some(3)), None);
    }

    #[test]
    fn entries_age_out_and_expired_sessions_are_read_again() {
        let cache = SessionCache::new(SessionCacheSettings {
            capacity: 10,
            max_age: Duration::ZERO,
        });
        let s = session(Uuid::new_v4());
        let t = ticket(&cache, &s, BUS);
        cache.insert(t, &s);
        assert_eq!(verdict(&cache, &s, BUS), None);

        let cache = cache_with(10);
        let mut expired = session(Uuid::new_v4());
        expired.expires_at = now().plus_seconds(-1);
        let t = ticket(&cache, &expired, BUS);
        cache.insert(t, &expired);
        assert_eq!(verdict(&cache, &expired, BUS), None);
    }

    fn cache_with(capacity: usize) -> Arc<SessionCache> {
        SessionCache::new(SessionCacheSettings {
            capacity,
            ..SessionCacheSettings::default()
        })
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity_and_zero_turns_it_off() {
        let cache = cache_with(8);
        for _ in 0..100 {
            let s = session(Uuid::new_v4());
            let t = ticket(&cache, &s, BUS);
            cache.insert(t, &s);
            assert!(cache.read().entries.len() <= 8);
        }
        let off = cache_with(0);
        let s = session(Uuid::new_v4());
        let t = ticket(&off, &s, BUS);
        off.insert(t, &s);
        assert_eq!(verdict(&off, &s, BUS), None);
    }

    #[tokio::test]
    async fn notices_on_the_bus_reach_the_cache_and_the_announcer_applies_its_own_first() {
        struct Bus(broadcast::Sender<Revocation>);
        #[async_trait]
        impl Revocations for Bus {
            async fn notify(&self, _: Revocation) {} // lost on the way
            fn subscribe(&self) -> broadcast::Receiver<Revocation> {
                self.0.subscribe()
            }
        }
        let bus = Arc::new(Bus(broadcast::channel(4).0));
        let cache = cache();
        cache.follow(bus.subscribe());
        let (a, b) = (session(Uuid::new_v4()), session(Uuid::new_v4()));
        for s in [&a, &b] {
            let t = ticket(&cache, s, Some(0));
            cache.insert(t, s);
        }
        let announcer = Announcer::new(cache.clone(), bus.clone());
        announcer
            .notify(Revocation {
                user_id: a.user_id,
                session_id: None,
            })
            .await;
        assert_eq!(verdict(&cache, &a, Some(0)), Some(Verdict::Revoked));
        // Another instance's notice, delivered by the bus.
        bus.0
            .send(Revocation {
                user_id: b.user_id,
                session_id: Some(b.id),
            })
            .unwrap();
        for _ in 0..100 {
            if verdict(&cache, &b, Some(0)) == Some(Verdict::Revoked) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the bus notice never reached the cache");
    }
}
