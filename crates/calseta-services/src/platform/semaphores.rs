//! One semaphore per key (a provider, an agent): bounds how much of the shared capacity one of
//! them can hold at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

/// Past this many keys, the semaphores nobody holds are dropped (keys come from configuration and
/// records, so the map must not grow without bound).
const PRUNE_ABOVE: usize = 10_000;

/// A semaphore per key, created on first use with the permits given then.
#[derive(Debug)]
pub struct KeyedSemaphores<K> {
    map: Mutex<HashMap<K, Arc<Semaphore>>>,
}

impl<K> Default for KeyedSemaphores<K> {
    fn default() -> Self {
        Self { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone> KeyedSemaphores<K> {
    /// The semaphore of `key`; `permits` is used only when it does not exist yet.
    pub fn get(&self, key: &K, permits: usize) -> Arc<Semaphore> {
        // A poisoned map is still a valid map: a panic elsewhere must not stop every caller.
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() > PRUNE_ABOVE {
            // Held semaphores have another reference (a permit or a caller's clone): kept.
            map.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
        }
        map.entry(key.clone()).or_insert_with(|| Arc::new(Semaphore::new(permits))).clone()
    }

    /// A permit of `key`'s semaphore if one is free now.
    pub fn try_acquire(&self, key: &K, permits: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.get(key, permits).try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_permits_fixed_at_first_use() {
        let slots = KeyedSemaphores::default();
        let a1 = slots.try_acquire(&"a", 2).unwrap();
        let _a2 = slots.try_acquire(&"a", 5).unwrap();
        assert!(slots.try_acquire(&"a", 5).is_none(), "the first use's 2 permits stay");
        assert!(slots.try_acquire(&"b", 1).is_some(), "another key is not affected");
        drop(a1);
        assert!(slots.try_acquire(&"a", 2).is_some());
        assert!(Arc::ptr_eq(&slots.get(&"a", 2), &slots.get(&"a", 2)));
    }

    #[test]
    fn unheld_semaphores_are_pruned_past_the_limit_and_held_ones_kept() {
        let slots = KeyedSemaphores::default();
        let held = slots.try_acquire(&0usize, 1).unwrap();
        for key in 1..=PRUNE_ABOVE {
            slots.get(&key, 1);
        }
        // One more than the limit is there now: the next new key prunes first.
        slots.get(&(PRUNE_ABOVE + 1), 1);
        let len = slots.map.lock().unwrap().len();
        assert_eq!(len, 2, "the held one and the new one");
        assert!(slots.try_acquire(&0usize, 1).is_none(), "still held");
        drop(held);
    }
}
