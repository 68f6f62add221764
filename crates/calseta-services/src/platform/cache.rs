//! One TTL cache with single-flight loading, for the small per-process caches of rows that every
//! request reads (API keys, mapping rules, active providers, the document targeting index).
//!
//! A value is served until it is `ttl` old; then the first caller loads it again while concurrent
//! callers for the same key wait for that load instead of starting their own. A change made in
//! this process invalidates at once; changes made by other processes are seen within `ttl`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A keyed TTL cache; `TtlCache<(), V>` (see [`TtlCell`]) holds one value.
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
    loads: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    /// Bumped by every invalidation, so a load that began before one does not store its result.
    generation: AtomicU64,
}

/// A cache of one value.
pub type TtlCell<V> = TtlCache<(), V>;

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a map that is still consistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache whose entries live `ttl` and which holds at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
            loads: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The value for `key` when it is fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        locked(&self.entries).get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// The fresh value for `key`, or the one `load` produces (one load per key at a time; a
    /// failed load is not cached).
    pub async fn get_or_load<E, F, Fut>(&self, key: K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let gate = locked(&self.loads).entry(key.clone()).or_default().clone();
        let _turn = gate.lock().await;
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = load().await;
        if let Ok(value) = &loaded
            && self.generation.load(Ordering::SeqCst) == generation
        {
            self.insert(key.clone(), value.clone());
        }
        let mut loads = locked(&self.loads);
        if loads.get(&key).is_some_and(|g| Arc::strong_count(g) <= 2) {
            loads.remove(&key);
        }
        loaded
    }

    /// Stores `value` for `key` as fresh now.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = locked(&self.entries);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Replaces the value of a cached key without making it fresher (e.g. a field updated locally).
    pub fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some((_, value)) = locked(&self.entries).get_mut(key) {
            change(value);
        }
    }

    /// Drops every entry (after a change in this process).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        locked(&self.entries).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn concurrent_misses_load_once_and_failures_are_not_cached() {
        let cache: Arc<TtlCell<u32>> = Arc::new(TtlCell::new(Duration::from_secs(60), 1));
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, loads) = (cache.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load((), || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok::<u32, ()>(7)
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(7));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load served every caller");

        let failing: TtlCell<u32> = TtlCell::new(Duration::from_secs(60), 1);
        assert_eq!(failing.get_or_load((), || async { Err::<u32, &str>("down") }).await, Err("down"));
        assert_eq!(failing.get_or_load((), || async { Ok::<u32, &str>(1) }).await, Ok(1));
    }

    #[tokio::test]
    async fn entries_expire_and_clear_forgets_them() {
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::ZERO, 10);
        cache.insert("a", 1);
        assert_eq!(cache.get(&"a"), None, "a zero TTL never serves");
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert("a", 1);
        cache.update(&"a", |v| *v = 2);
        assert_eq!(cache.get(&"a"), Some(2));
        cache.clear();
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get_or_load("a", || async { Ok::<u32, ()>(3) }).await, Ok(3));
    }

    #[tokio::test]
    async fn a_load_racing_an_invalidation_is_not_stored() {
        let cache: TtlCell<u32> = TtlCell::new(Duration::from_secs(60), 1);
        let loaded = cache
            .get_or_load((), || async {
                cache.clear();
                Ok::<u32, ()>(1)
            })
            .await;
        assert_eq!(loaded, Ok(1));
        assert_eq!(cache.get(&()), None, "the value read before the change is not kept");
    }

    #[test]
    fn capacity_bounds_the_entries() {
        let cache: TtlCache<u32, u32> = TtlCache::new(Duration::from_secs(60), 2);
        for i in 0..5 {
            cache.insert(i, i);
        }
        assert!(locked(&cache.entries).len() <= 2);
        assert_eq!(cache.get(&4), Some(4));
    }
}
