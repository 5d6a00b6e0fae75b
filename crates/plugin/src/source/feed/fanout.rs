//! The channels one connection (MQTT: one filter) feeds, and the latest message of each
//! topic, for channels that join later: what the MQTT and WebSocket sources share.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Delivery, Message, QueueTx};

/// Subscribers and latest values.
#[derive(Debug, Default)]
pub(crate) struct Fanout {
    subs: Vec<(u64, QueueTx)>,
    next_id: u64,
    /// topic → its latest message.
    latest: HashMap<Arc<str>, Message>,
}

impl Fanout {
    /// Adds a channel's queue and hands it the latest values at once (as retained values;
    /// a full queue skips them). Returns its id.
    pub(crate) fn subscribe(&mut self, tx: QueueTx) -> u64 {
        for message in self.latest.values() {
            tx.try_send(Delivery::Message(Message {
                retained: true,
                ..message.clone()
            }));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.subs.push((id, tx));
        id
    }

    /// Removes a channel; returns whether none is left.
    pub(crate) fn unsubscribe(&mut self, id: u64) -> bool {
        self.subs.retain(|(i, _)| *i != id);
        self.subs.is_empty()
    }

    /// Every channel's queue.
    pub(crate) fn queues(&self) -> impl Iterator<Item = &QueueTx> {
        self.subs.iter().map(|(_, tx)| tx)
    }

    /// Keeps `message` as its topic's latest value: at most `max_topics` topics, and only
    /// while `room` bytes allow its payload (beyond what the topic's old one frees). An
    /// empty payload (a deleted retained message) forgets the topic. Returns the change in
    /// bytes kept.
    pub(crate) fn keep(&mut self, message: &Message, max_topics: usize, room: usize) -> isize {
        let old = self
            .latest
            .get(&message.topic)
            .map_or(0, |m| m.payload.len());
        if message.payload.is_empty() {
            self.latest.remove(&message.topic);
            return -(old as isize);
        }
        let new = message.payload.len();
        let known = self.latest.contains_key(&message.topic);
        if (!known && self.latest.len() >= max_topics) || new > room + old {
            return 0;
        }
        self.latest
            .insert(Arc::clone(&message.topic), message.clone());
        new as isize - old as isize
    }

    /// Bytes of the latest values kept.
    pub(crate) fn kept_bytes(&self) -> usize {
        self.latest.values().map(|m| m.payload.len()).sum()
    }

    /// The topics whose latest values are kept.
    pub(crate) fn topics(&self) -> impl Iterator<Item = &Arc<str>> {
        self.latest.keys()
    }

    /// Every subscriber's queue, taking them out (the connection refused them).
    pub(crate) fn take_queues(self) -> Vec<QueueTx> {
        self.subs.into_iter().map(|(_, tx)| tx).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str, bytes: usize) -> Message {
        Message::new(
            Arc::from(topic),
            bytes::Bytes::from(vec![b'1'; bytes]),
            false,
            0,
        )
    }

    #[tokio::test]
    async fn a_new_subscriber_gets_the_latest_values_as_retained() {
        let mut f = Fanout::default();
        assert_eq!(f.keep(&message("a", 10), 8, 100), 10);
        assert_eq!(f.keep(&message("a", 4), 8, 100), -6, "replaced");
        assert_eq!(f.keep(&message("b", 200), 8, 100), 0, "no room");
        let (tx, mut rx) = super::super::queue(1 << 20);
        let id = f.subscribe(tx);
        match rx.try_recv() {
            Some(Delivery::Message(m)) => assert!(m.retained && m.payload.len() == 4),
            other => panic!("{other:?}"),
        }
        assert!(f.unsubscribe(id), "none left");
        assert_eq!(f.kept_bytes(), 4);
    }
}
