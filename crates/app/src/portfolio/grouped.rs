//! Work that arrives together, done together (issue 12): portfolio reads and the binding quotes
//! of previews. Each request still gets its own answer, but requests that queue while the
//! database is busy share one statement — one round trip, one executor start, one commit —
//! instead of paying for one each.
//!
//! At most `in_flight` statements of a kind run at once; whatever queues meanwhile forms the
//! next group (up to its maximum). Nothing waits on a timer: alone, a request goes at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::ports::{StoreError, StoreResult};

/// Does a whole group: one output per input, in order.
pub(crate) type GroupWork<I, O> = Arc<
    dyn Fn(Arc<[I]>) -> Pin<Box<dyn Future<Output = StoreResult<Vec<O>>> + Send>> + Send + Sync,
>;

struct Pending<I, O> {
    input: I,
    done: oneshot::Sender<StoreResult<O>>,
}

pub(crate) struct Grouped<I, O> {
    /// What is grouped, for logs ("trade quotes").
    what: &'static str,
    max_group: usize,
    /// Statements of this kind in flight at once (per process): low enough that groups form
    /// under load, high enough that one slow statement does not hold every request of its kind.
    in_flight: usize,
    work: GroupWork<I, O>,
    /// Started by the first request, inside the runtime that serves it.
    queue: OnceLock<mpsc::UnboundedSender<Pending<I, O>>>,
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> Grouped<I, O> {
    pub(crate) fn new(
        what: &'static str,
        max_group: usize,
        in_flight: usize,
        work: GroupWork<I, O>,
    ) -> Self {
        Grouped {
            what,
            max_group: max_group.max(1),
            in_flight: in_flight.max(1),
            work,
            queue: OnceLock::new(),
        }
    }

    /// Does `input` as part of the next group. A request dropped while waiting leaves its
    /// input in the group (a read is discarded, an unused quote expires).
    pub(crate) async fn run(&self, input: I) -> StoreResult<O> {
        let (done, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable(format!("the {} group has stopped", self.what));
        self.queue()
            .send(Pending { input, done })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn queue(&self) -> &mpsc::UnboundedSender<Pending<I, O>> {
        self.queue.get_or_init(|| {
            let (queue, pending) = mpsc::unbounded_channel();
            tokio::spawn(serve(
                self.what,
                self.max_group,
                self.in_flight,
                self.work.clone(),
                pending,
            ));
            queue
        })
    }
}

/// Ends when the last sender (the service) is dropped.
async fn serve<I: Clone + Send + Sync + 'static, O: Send + 'static>(
    what: &'static str,
    max_group: usize,
    in_flight: usize,
    work: GroupWork<I, O>,
    mut pending: mpsc::UnboundedReceiver<Pending<I, O>>,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = Vec::with_capacity(max_group);
        if pending.recv_many(&mut group, max_group).await == 0 {
            return;
        }
        let work = work.clone();
        tokio::spawn(async move {
            answer(what, &work, group).await;
            drop(slot);
        });
    }
}

async fn answer<I: Clone, O>(
    what: &'static str,
    work: &GroupWork<I, O>,
    group: Vec<Pending<I, O>>,
) {
    let (inputs, waiting): (Vec<I>, Vec<_>) = group.into_iter().map(|p| (p.input, p.done)).unzip();
    let inputs: Arc<[I]> = inputs.into();
    match outputs(what, work, inputs.clone()).await {
        Ok(outputs) => {
            for (done, output) in waiting.into_iter().zip(outputs) {
                let _ = done.send(Ok(output));
            }
        }
        // The database is away: every request of the group would fail alone too.
        Err(e @ StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, size = inputs.len(), "a group of {what} failed");
            for done in waiting {
                let _ = done.send(Err(each(&e)));
            }
        }
        // Anything else may come from one input (a row refused, a record unreadable), and the
        // group mixes users: each is done again alone, so only the requests at fault fail.
        Err(e) => {
            tracing::warn!(error = %e, size = inputs.len(), "a group of {what} failed; one by one");
            for (input, done) in inputs.iter().zip(waiting) {
                let alone = outputs(what, work, Arc::from([input.clone()])).await;
                let _ = done.send(alone.and_then(|mut one| {
                    one.pop()
                        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("no {what} answer")))
                }));
            }
        }
    }
}

/// The group's outputs, checked to be one per input.
async fn outputs<I, O>(
    what: &'static str,
    work: &GroupWork<I, O>,
    inputs: Arc<[I]>,
) -> StoreResult<Vec<O>> {
    let asked = inputs.len();
    let outputs = work(inputs).await?;
    if outputs.len() != asked {
        return Err(StoreError::Other(anyhow::anyhow!(
            "{asked} {what} asked, {} answered",
            outputs.len()
        )));
    }
    Ok(outputs)
}

/// The failure of a group, as each of its requests reports it.
fn each(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        StoreError::Conflict(c) => StoreError::Conflict(c.clone()),
        StoreError::IdempotencyClaimLost => StoreError::IdempotencyClaimLost,
        StoreError::Other(e) => StoreError::Other(anyhow::anyhow!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::join_all;

    use super::*;

    /// Records the size of each group it is given and answers each input doubled.
    fn doubling(sizes: Arc<Mutex<Vec<usize>>>) -> GroupWork<u32, u32> {
        Arc::new(move |inputs: Arc<[u32]>| {
            let sizes = sizes.clone();
            Box::pin(async move {
                sizes.lock().unwrap().push(inputs.len());
                tokio::task::yield_now().await;
                Ok(inputs.iter().map(|n| n * 2).collect())
            })
        })
    }

    #[tokio::test]
    async fn requests_that_arrive_together_share_groups_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let grouped = Grouped::new("numbers", 16, 2, doubling(sizes.clone()));
        let answers = join_all((0..100).map(|n| grouped.run(n))).await;
        let answers: Vec<u32> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, (0..100).map(|n| n * 2).collect::<Vec<_>>());
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.len() < 100, "some requests shared a group: {sizes:?}");
        assert!(sizes.iter().all(|&s| s <= 16), "{sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_group_fails_each_of_its_requests_with_the_same_kind_of_error() {
        let grouped: Grouped<u32, u32> = Grouped::new(
            "numbers",
            8,
            2,
            Arc::new(|_| Box::pin(async { Err(StoreError::Unavailable("down".into())) })),
        );
        for answer in join_all([grouped.run(1), grouped.run(2)]).await {
            assert!(matches!(answer, Err(StoreError::Unavailable(why)) if why == "down"));
        }
    }

    #[tokio::test]
    async fn an_input_that_fails_its_group_fails_only_its_own_request() {
        // 13 is refused (as a row the database rejects would be); anything with it fails.
        let refused_groups = Arc::new(Mutex::new(Vec::new()));
        let seen = refused_groups.clone();
        let grouped: Grouped<u32, u32> = Grouped::new(
            "numbers",
            8,
            1,
            Arc::new(move |inputs: Arc<[u32]>| {
                let seen = seen.clone();
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    if inputs.contains(&13) {
                        seen.lock().unwrap().push(inputs.len());
                        Err(StoreError::Other(anyhow::anyhow!("13 refused")))
                    } else {
                        Ok(inputs.to_vec())
                    }
                })
            }),
        );
        let answers = join_all((10..16).map(|n| grouped.run(n))).await;
        for (n, answer) in (10..16).zip(answers) {
            match answer {
                Ok(echo) => assert_eq!(echo, n),
                Err(e) => assert_eq!(n, 13, "{n} failed with 13's group: {e}"),
            }
        }
        let refused_groups = refused_groups.lock().unwrap();
        assert!(
            refused_groups.iter().any(|&size| size > 1),
            "13 shared a group with others: {refused_groups:?}"
        );
    }
}
