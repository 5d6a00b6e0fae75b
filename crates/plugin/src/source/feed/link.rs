//! Whether a connection is up, and telling its channels when that changes.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

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
