//! When answers still streaming at shutdown must end. actix closes whatever is still open
//! when `http.shutdown_grace` runs out; a stream cut off like that would end without a
//! word and take its partial answer with it. So a stream still open shortly before the
//! grace ends stops by itself: its trace is stored, and its client told why.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What a stream still open at shutdown leaves itself, before the grace ends, to store
/// its trace and tell its client (half the grace, if that is shorter).
pub const STREAM_WIND_DOWN: Duration = Duration::from_secs(2);

/// The moment open streams must end, once the server is stopping.
#[derive(Debug)]
pub struct StreamsEnd {
    at: watch::Sender<Option<Instant>>,
}

impl Default for StreamsEnd {
    fn default() -> Self {
        Self {
            at: watch::Sender::new(None),
        }
    }
}

impl StreamsEnd {
    /// The server stops now, with `grace` for what is in flight.
    pub fn begin(&self, grace: Duration) {
        let wind_down = STREAM_WIND_DOWN.min(grace / 2);
        self.at
            .send_replace(Some(Instant::now() + grace - wind_down));
    }

    /// Resolves when open streams must end: never, unless the server is stopping.
    pub async fn reached(&self) {
        let mut at = self.at.subscribe();
        let Ok(when) = at.wait_for(Option::is_some).await.map(|at| *at) else {
            return std::future::pending().await;
        };
        if let Some(when) = when {
            tokio::time::sleep_until(when).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_end_shortly_before_the_grace_does() {
        let end = StreamsEnd::default();
        let waiting = end.reached();
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                .await
                .is_err()
        );
        let began = Instant::now();
        end.begin(Duration::from_millis(400));
        waiting.await;
        let after = began.elapsed();
        assert!(after >= Duration::from_millis(200), "{after:?}");
        assert!(after < Duration::from_millis(400), "{after:?}");
    }

    #[tokio::test]
    async fn a_stream_that_starts_after_the_moment_ends_at_once() {
        let end = StreamsEnd::default();
        end.begin(Duration::ZERO);
        tokio::time::timeout(Duration::from_millis(100), end.reached())
            .await
            .expect("already past");
    }
}
