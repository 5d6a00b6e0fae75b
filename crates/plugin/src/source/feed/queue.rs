//! A channel's queue, bounded in entries and in payload bytes, and the rate at which a
//! connection reads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{Delivery, MAX_PAYLOAD_BYTES};

/// Deliveries a channel's queue holds before its connection waits (payload bytes are
/// bounded separately, see [`queue`]).
pub(crate) const QUEUE: usize = 256;
/// A channel's queue: bounded in entries and in payload bytes; the sender waits for room.
pub(crate) fn queue(bytes: usize) -> (QueueTx, QueueRx) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let bound = bytes.clamp(MAX_PAYLOAD_BYTES, u32::MAX as usize);
    (
        QueueTx {
            tx,
            room: Arc::new(Semaphore::new(bound)),
            bound,
        },
        QueueRx { rx },
    )
}

/// The connection's end of a channel's queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueTx {
    tx: mpsc::Sender<(Delivery, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
    bound: usize,
}

impl QueueTx {
    fn cost(&self, d: &Delivery) -> u32 {
        d.queued_bytes().min(self.bound) as u32
    }

    /// Queues `d`, waiting while the queue is full; `false` when the channel is gone.
    pub(crate) async fn send(&self, d: Delivery) -> bool {
        let Ok(permit) = Arc::clone(&self.room)
            .acquire_many_owned(self.cost(&d))
            .await
        else {
            return false;
        };
        self.tx.send((d, permit)).await.is_ok()
    }

    /// Queues `d` if there is room now; `false` otherwise.
    pub(crate) fn try_send(&self, d: Delivery) -> bool {
        let Ok(permit) = Arc::clone(&self.room).try_acquire_many_owned(self.cost(&d)) else {
            return false;
        };
        self.tx.try_send((d, permit)).is_ok()
    }
}

/// The channel's end of its queue.
#[derive(Debug)]
pub(crate) struct QueueRx {
    rx: mpsc::Receiver<(Delivery, OwnedSemaphorePermit)>,
}

impl QueueRx {
    /// Waits for deliveries and moves up to `max` of them into `into` (each with the room
    /// it holds in the queue, given back when dropped); 0 when the connection is gone.
    pub(crate) async fn recv_many(
        &mut self,
        into: &mut Vec<(Delivery, OwnedSemaphorePermit)>,
        max: usize,
    ) -> usize {
        self.rx.recv_many(into, max).await
    }

    /// The next delivery if one is queued.
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok().map(|(d, _)| d)
    }
}

/// At most `per_second` messages a second, in bursts of up to a second's worth.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    pub(crate) fn new(per_second: u64) -> Self {
        let per_second = per_second.max(1) as f64;
        Self {
            per_second,
            tokens: per_second,
            last: Instant::now(),
        }
    }

    /// Takes one message's token, waiting when there is none.
    pub(crate) async fn take(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        self.last = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.per_second);
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.last = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// Hands `delivery` to every queue in `to`, waiting while one is full; queues whose channel
/// is gone are skipped (their subscription is being dropped).
pub(crate) async fn deliver(to: &[QueueTx], delivery: Delivery) {
    if let [only] = to {
        only.send(delivery).await;
        return;
    }
    for tx in to {
        tx.send(delivery.clone()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: usize) -> Delivery {
        Delivery::Message(super::super::Message::new(
            Arc::from("t"),
            bytes::Bytes::from(vec![b'x'; bytes]),
            false,
            0,
        ))
    }

    #[tokio::test]
    async fn queues_are_bounded_in_bytes_as_well_as_entries() {
        let (tx, mut rx) = queue(MAX_PAYLOAD_BYTES);
        assert!(tx.try_send(message(200_000)));
        assert!(
            !tx.try_send(message(200_000)),
            "no room for a second 200 KB payload"
        );
        assert!(tx.try_send(message(10)), "small ones still fit");
        assert!(rx.try_recv().is_some());
        assert!(
            tx.try_send(message(200_000)),
            "room again once the first is taken"
        );
        for _ in 0..QUEUE {
            let _ = tx.try_send(Delivery::Up { at_ms: 0 });
        }
        assert!(
            !tx.try_send(Delivery::Up { at_ms: 0 }),
            "and at most {QUEUE} entries"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_reads_at_most_its_rate() {
        let mut rate = RateLimit::new(100);
        let started = Instant::now();
        for _ in 0..300 {
            rate.take().await;
        }
        // A second's burst, then 100 a second.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1_990) && took <= Duration::from_millis(2_100),
            "{took:?}"
        );
    }
}
