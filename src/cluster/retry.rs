//! Bounded, narrated retries of one request. The API server asks to be
//! retried with 429, 503 and 504 (overloaded, restarting, a proxy's timeout),
//! and reads may also meet a transient 500: each retry is said on stderr,
//! honouring `Retry-After` (`details.retryAfterSeconds`), and after
//! [`RETRIES`] the error is the command's. kube's own retry layer is off
//! (`connect`): it would retry 15 times over minutes, silently.

use std::future::Future;
use std::time::Duration;

use super::Cluster;

/// Retries of one request before its error ends the command (at most
/// 0.5 + 1 + 2 + 4 + 8 s of backoff, or the server's Retry-After, capped).
pub(super) const RETRIES: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Whether repeating a request is safe when the server failed in an unknown
/// state (a 500): reads yes; writes only when the server said it did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Read,
    Write,
}

/// The delay before retry `n` (from 1) of a request answered with `status`,
/// or `None` when it is not retried.
fn delay(status: &kube::core::Status, verb: Verb, n: u32) -> Option<Duration> {
    let retryable =
        matches!(status.code, 429 | 503 | 504) || (status.code == 500 && verb == Verb::Read);
    if !retryable || n > RETRIES {
        return None;
    }
    let asked = status
        .details
        .as_ref()
        .map(|d| d.retry_after_seconds)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.into()).min(MAX_RETRY_AFTER));
    Some(asked.unwrap_or(FIRST_DELAY * 2u32.pow(n - 1)))
}

impl Cluster {
    /// Runs `attempt` until it succeeds, fails for good, or has been retried
    /// [`RETRIES`] times; `what` names the request in the narration.
    pub(super) async fn retrying<T, Fut>(
        &self,
        what: &str,
        verb: Verb,
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, kube::Error>
    where
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut n = 0;
        loop {
            let result = attempt().await;
            let Err(kube::Error::Api(status)) = &result else {
                return result;
            };
            n += 1;
            let Some(wait) = delay(status, verb, n) else {
                return result;
            };
            self.narrator.say(crate::events::Event::Retrying {
                request: what.to_string(),
                status: status.code,
                reason: status.reason.clone(),
                after_seconds: wait.as_secs_f64(),
                attempt: n,
                of: RETRIES,
            });
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u32>) -> kube::core::Status {
        let mut s = kube::core::Status::failure("m", "R").with_code(code);
        if let Some(secs) = retry_after {
            s.details = serde_json::from_value(serde_json::json!({"retryAfterSeconds": secs})).ok();
        }
        s
    }

    #[test]
    fn retries_are_bounded_back_off_and_honour_retry_after() {
        let s503 = status(503, None);
        let delays: Vec<Option<Duration>> = (1..=RETRIES + 1)
            .map(|n| delay(&s503, Verb::Write, n))
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000]
                .map(|ms| Some(Duration::from_millis(ms)))
                .into_iter()
                .chain([None])
                .collect::<Vec<_>>()
        );
        assert_eq!(
            delay(&status(429, Some(3)), Verb::Write, 1),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            delay(&status(429, Some(3600)), Verb::Read, 1),
            Some(MAX_RETRY_AFTER)
        );
        // A 500 may have done the write: only reads repeat it.
        assert!(delay(&status(500, None), Verb::Read, 1).is_some());
        assert_eq!(delay(&status(500, None), Verb::Write, 1), None);
        for code in [400, 401, 403, 404, 409, 410, 422] {
            assert_eq!(delay(&status(code, None), Verb::Read, 1), None, "{code}");
        }
    }
}
