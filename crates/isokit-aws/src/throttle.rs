//! Patience with AWS's request limits. A throttled call means "not so fast",
//! not "no": it is tried again, later and later, for as long as AWS keeps
//! throttling it, so that throttling never fails a command by itself. The
//! SDK's own retries (three quick attempts) come first; this waits longer.

use std::future::Future;
use std::time::Duration;

use crate::error::{CallError, Problem};

/// The first pause after the SDK's own retries gave up.
const FIRST_PAUSE: Duration = Duration::from_secs(1);

/// Pauses double up to this; a command watching a service makes a few
/// calls a second at most, so this lets any request quota refill.
const LONGEST_PAUSE: Duration = Duration::from_secs(20);

/// The error codes AWS services answer a throttled request with (ECS and
/// CloudWatch Logs: `ThrottlingException`; CloudFormation: `Throttling`;
/// EC2: `RequestLimitExceeded`), and the HTTP status of one the SDK could not
/// read.
const THROTTLING_CODES: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "HTTP 429",
];

pub(crate) fn is_throttling(err: &CallError) -> bool {
    matches!(&err.problem, Problem::Service { code } if THROTTLING_CODES.contains(&code.as_str()))
}

/// Runs `call` until it is not throttled, pausing in between.
pub(crate) async fn patiently<T, F, Fut>(mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match call().await {
            Err(err) if is_throttling(&err) => {
                tracing::warn!(
                    "AWS is throttling {} ({}); trying again in {} s",
                    err.action,
                    err.detail,
                    pause.as_secs()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn failure(code: &str) -> CallError {
        CallError {
            action: "CloudWatch Logs FilterLogEvents",
            problem: Problem::Service {
                code: code.to_owned(),
            },
            detail: "Rate exceeded".to_owned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_is_tried_again_until_it_passes() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let answer = patiently(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 7 {
                Err(failure("ThrottlingException"))
            } else {
                Ok("events")
            }
        })
        .await;
        assert_eq!(answer.expect("throttling never fails the call"), "events");
        assert_eq!(calls.load(Ordering::SeqCst), 8);
        // 1 + 2 + 4 + 8 + 16, then the 20 s ceiling twice.
        assert_eq!(started.elapsed(), Duration::from_secs(71));
    }

    #[tokio::test(start_paused = true)]
    async fn any_other_failure_returns_at_once() {
        let calls = AtomicU32::new(0);
        let answer: Result<(), _> = patiently(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(failure("ResourceNotFoundException"))
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(answer.is_err());
    }

    #[test]
    fn throttling_is_told_apart_from_other_service_errors() {
        for code in ["ThrottlingException", "Throttling", "HTTP 429"] {
            assert!(is_throttling(&failure(code)), "{code}");
        }
        for code in [
            "AccessDeniedException",
            "HTTP 500",
            "LimitExceededException",
        ] {
            assert!(!is_throttling(&failure(code)), "{code}");
        }
    }
}
