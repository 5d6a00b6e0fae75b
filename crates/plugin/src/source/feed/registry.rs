//! One connection per key, shared by the channels that hold it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

use crate::hub::lock;
use crate::source::ConnectionRegistry;

/// Shares one connection (`V`) per key between the channels that hold it: the registry
/// keeps only weak references, so a connection ends when its last channel does.
#[derive(Debug)]
pub(crate) struct Registry<K, V> {
    map: Mutex<HashMap<K, Weak<V>>>,
}

impl<K, V> Default for Registry<K, V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Registry<K, V> {
    /// The live connection for `key`, if there is one.
    pub(crate) fn get(&self, key: &K) -> Option<Arc<V>> {
        lock(&self.map).get(key).and_then(Weak::upgrade)
    }

    /// The live connection for `key`, or a new one from `make`.
    ///
    /// # Errors
    /// `make`'s.
    pub(crate) fn get_or_try_insert<E>(
        &self,
        key: &K,
        make: impl FnOnce() -> Result<Arc<V>, E>,
    ) -> Result<Arc<V>, E> {
        let mut map = lock(&self.map);
        if let Some(v) = map.get(key).and_then(Weak::upgrade) {
            return Ok(v);
        }
        // Entries of ended connections are dropped here, so the map holds at most the live
        // connections plus this one.
        map.retain(|_, w| w.strong_count() > 0);
        let v = make()?;
        map.insert(key.clone(), Arc::downgrade(&v));
        Ok(v)
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> ConnectionRegistry for Registry<K, V> {
    fn live(&self) -> usize {
        lock(&self.map)
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}
