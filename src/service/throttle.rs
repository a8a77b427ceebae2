//! Counting per key in one-minute windows: failed authentications per client address, and
//! requests per token. Past the limit, `Some(seconds to wait)`. The table is bounded: a
//! flood of keys costs its size, not more.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const KEYS: usize = 4096;

pub struct Throttle<K> {
    per_minute: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Copy> Throttle<K> {
    /// `per_minute` of 0 never holds anything back.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one for `key`; `Some(seconds to wait)` once over the limit.
    pub fn hit(&self, key: K) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= KEYS && !windows.contains_key(&key) {
            make_room(&mut windows);
        }
        let window = windows.entry(key).or_insert((Instant::now(), 0));
        if window.0.elapsed() >= WINDOW {
            *window = (Instant::now(), 0);
        }
        window.1 = window.1.saturating_add(1);
        (window.1 > self.per_minute)
            .then(|| WINDOW.saturating_sub(window.0.elapsed()).as_secs().max(1))
    }
}

/// Drops the windows that are over, then the oldest.
fn make_room<K: Hash + Eq + Copy>(windows: &mut HashMap<K, (Instant, u32)>) {
    windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
    if windows.len() >= KEYS {
        let oldest = windows
            .iter()
            .min_by_key(|(_, (start, _))| *start)
            .map(|(k, _)| *k);
        if let Some(oldest) = oldest {
            windows.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn hits_past_the_limit_are_held_back_per_key() {
        let throttle = Throttle::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!((0..3).filter_map(|_| throttle.hit(a)).count(), 0);
        let wait = throttle.hit(a).expect("the fourth is too many");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(throttle.hit(b).is_none(), "another key is not affected");
    }

    #[test]
    fn zero_means_no_limit() {
        let throttle = Throttle::new(0);
        assert!((0..10_000).all(|_| throttle.hit(1u32).is_none()));
    }

    #[test]
    fn the_table_stays_bounded() {
        let throttle = Throttle::new(1);
        for i in 0..(KEYS as u32 + 100) {
            throttle.hit(i);
        }
        assert!(throttle.windows.lock().unwrap().len() <= KEYS);
    }
}
