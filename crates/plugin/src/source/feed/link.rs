//! Whether a connection is up, and telling its channels when that changes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{deliver, Delivery, FeedMetrics, QueueTx};
use crate::hub::lock;

/// Whether a connection is up, as its channels need to know when they join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Not connected yet.
    Connecting,
    /// Connected.
    Up,
    /// Down since `at_ms` because of `reason`.
    Down {
        /// Since when.
        at_ms: i64,
        /// Why.
        reason: String,
    },
}

/// A connection's shared state, as the reporting below needs it: its link and the queues of
/// the channels reading it.
pub(crate) trait Link {
    /// The link state.
    fn link_mut(&mut self) -> &mut LinkState;
    /// Every reading channel's queue.
    fn queues(&self) -> Vec<QueueTx>;
}

/// The shared state of a connection that channels read (NATS, Redis): its link and each
/// reading channel's queue with what it reads (`T`: a subject, a key and its cursor, …).
#[derive(Debug)]
pub(crate) struct Readers<T> {
    link: LinkState,
    readers: Vec<Reader<T>>,
    next_id: u64,
}

/// One reading channel.
#[derive(Debug)]
pub(crate) struct Reader<T> {
    /// Its place, by which its [`Reading`] leaves when dropped.
    pub(crate) id: u64,
    /// What it reads.
    pub(crate) reads: T,
    /// Its queue.
    pub(crate) tx: QueueTx,
}

impl<T> Default for Readers<T> {
    fn default() -> Self {
        Self {
            link: LinkState::Connecting,
            readers: Vec::new(),
            next_id: 0,
        }
    }
}

impl<T> Readers<T> {
    /// Adds a channel reading `reads` into `tx`, told at once when the link is down; gives
    /// back its place, which it leaves when the [`Reading`] drops (waking `wake`, the
    /// connection's task, to let go of what no channel reads any more).
    pub(crate) fn join(
        shared: &Arc<Mutex<Self>>,
        reads: T,
        tx: QueueTx,
        wake: Option<Arc<Notify>>,
    ) -> Reading<T> {
        let mut this = lock(shared);
        let id = this.next_id;
        this.next_id += 1;
        if let LinkState::Down { at_ms, reason } = &this.link {
            tx.try_send(Delivery::Down {
                at_ms: *at_ms,
                reason: reason.clone(),
            });
        }
        this.readers.push(Reader { id, reads, tx });
        if let Some(wake) = &wake {
            wake.notify_one();
        }
        Reading {
            shared: Arc::clone(shared),
            id,
            wake,
        }
    }

    /// The link state.
    pub(crate) fn link(&self) -> &LinkState {
        &self.link
    }

    /// The reading channels.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Reader<T>> {
        self.readers.iter()
    }

    /// The reading channels, to move their cursors.
    pub(crate) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Reader<T>> {
        self.readers.iter_mut()
    }

    /// The queues of the channels whose `reads` `which` picks.
    pub(crate) fn queues_of(&self, which: impl Fn(&T) -> bool) -> Vec<QueueTx> {
        self.readers
            .iter()
            .filter(|r| which(&r.reads))
            .map(|r| r.tx.clone())
            .collect()
    }

    /// Takes out the channels whose `reads` `which` picks (their reads were refused);
    /// their queues.
    pub(crate) fn remove(&mut self, which: impl Fn(&T) -> bool) -> Vec<QueueTx> {
        let (out, kept) = std::mem::take(&mut self.readers)
            .into_iter()
            .partition(|r| which(&r.reads));
        self.readers = kept;
        out.into_iter().map(|r: Reader<T>| r.tx).collect()
    }
}

impl<T> Link for Readers<T> {
    fn link_mut(&mut self) -> &mut LinkState {
        &mut self.link
    }

    fn queues(&self) -> Vec<QueueTx> {
        self.queues_of(|_| true)
    }
}

/// A channel's place among a connection's [`Readers`], given back on drop.
#[derive(Debug)]
pub(crate) struct Reading<T> {
    shared: Arc<Mutex<Readers<T>>>,
    id: u64,
    wake: Option<Arc<Notify>>,
}

impl<T> Reading<T> {
    /// Its place among the readers.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Drop for Reading<T> {
    fn drop(&mut self) {
        lock(&self.shared).readers.retain(|r| r.id != self.id);
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }
}

/// Marks the connection down. The first failure is logged and told to every channel (a gap
/// notice); failed reconnects after it are only logged at debug level.
pub(crate) async fn report_down<L: Link>(
    shared: &Mutex<L>,
    kind: &str,
    endpoint: &str,
    at_ms: i64,
    reason: String,
) {
    let newly_down = {
        let mut shared = lock(shared);
        let link = shared.link_mut();
        if matches!(link, LinkState::Down { .. }) {
            None
        } else {
            *link = LinkState::Down {
                at_ms,
                reason: reason.clone(),
            };
            Some(shared.queues())
        }
    };
    match newly_down {
        Some(queues) => {
            tracing::warn!(%endpoint, error = %reason, "{kind} connection down; reconnecting");
            deliver(&queues, Delivery::Down { at_ms, reason }).await;
        }
        None => tracing::debug!(%endpoint, error = %reason, "{kind} reconnect failed"),
    }
}

/// Marks the connection up; after a failure, counts the reconnect and tells every channel
/// (the end of the gap).
pub(crate) async fn report_up<L: Link>(
    shared: &Mutex<L>,
    kind: &str,
    endpoint: &str,
    at_ms: i64,
    metrics: &FeedMetrics,
) {
    let was_down = {
        let mut shared = lock(shared);
        let link = shared.link_mut();
        let was_down = matches!(link, LinkState::Down { .. });
        *link = LinkState::Up;
        was_down.then(|| shared.queues())
    };
    tracing::info!(%endpoint, "{kind} connected");
    if let Some(queues) = was_down {
        metrics.reconnects.fetch_add(1, Ordering::Relaxed);
        deliver(&queues, Delivery::Up { at_ms }).await;
    }
}
