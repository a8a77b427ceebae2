//! Failed authentications per client address: past a number a minute, further failures
//! are answered "too many" with the seconds to wait. Successes are never counted or held
//! back. The table is bounded: a flood of addresses costs its size, not more.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const ADDRESSES: usize = 4096;

pub struct FailureThrottle {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureThrottle {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failure from `addr`; `Some(seconds to wait)` once over the limit.
    pub fn failed(&self, addr: IpAddr) -> Option<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= ADDRESSES && !windows.contains_key(&addr) {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if windows.len() >= ADDRESSES {
                let oldest = windows
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(a, _)| *a);
                if let Some(oldest) = oldest {
                    windows.remove(&oldest);
                }
            }
        }
        let window = windows.entry(addr).or_insert((Instant::now(), 0));
        if window.0.elapsed() >= WINDOW {
            *window = (Instant::now(), 0);
        }
        window.1 = window.1.saturating_add(1);
        (window.1 > self.per_minute)
            .then(|| WINDOW.saturating_sub(window.0.elapsed()).as_secs().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_are_held_back_per_address() {
        let throttle = FailureThrottle::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!((0..3).filter_map(|_| throttle.failed(a)).count(), 0);
        let wait = throttle.failed(a).expect("the fourth failure is too many");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(
            throttle.failed(b).is_none(),
            "another address is not affected"
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let throttle = FailureThrottle::new(1);
        for i in 0..(ADDRESSES as u32 + 100) {
            throttle.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert!(throttle.windows.lock().unwrap().len() <= ADDRESSES);
    }
}
