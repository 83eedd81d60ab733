//! The one place that decides what a failed attempt means for its shard.

use rwclip_core::failure::{FailureClass, ShardFailure};

/// What the scheduler does with a shard after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Retry,
    /// Back in the queue, uncounted.
    Requeue,
    /// The shard fails; the text is its last reason in reports.
    Fail(String),
}

/// `attempts` counts the attempt that just failed (when it is counted).
pub fn verdict(failure: &ShardFailure, attempts: u32, max_attempts: u32) -> Verdict {
    let reason = &failure.reason;
    match failure.class {
        FailureClass::HandedBack => Verdict::Requeue,
        FailureClass::BadInput | FailureClass::Internal => Verdict::Fail(format!("fatal: {reason}")),
        FailureClass::Retryable | FailureClass::LostDependency if attempts >= max_attempts => {
            Verdict::Fail(format!("gave up after {attempts} attempts; last: {reason}"))
        }
        FailureClass::Retryable | FailureClass::LostDependency => Verdict::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_and_internal_fail_on_first_attempt() {
        let v = verdict(&ShardFailure::bad_input("corrupt image a.jpg"), 1, 4);
        assert_eq!(v, Verdict::Fail("fatal: corrupt image a.jpg".into()));
        assert!(matches!(verdict(&ShardFailure::internal("libtorch"), 1, 4), Verdict::Fail(_)));
    }

    #[test]
    fn retryable_retries_until_the_limit() {
        let f = ShardFailure::retryable("io");
        assert_eq!(verdict(&f, 3, 4), Verdict::Retry);
        assert!(matches!(verdict(&f, 4, 4), Verdict::Fail(r) if r.contains("4 attempts")));
        let lost = ShardFailure::lost_dependencies("gone", vec![]);
        assert_eq!(verdict(&lost, 3, 4), Verdict::Retry);
    }

    #[test]
    fn handed_back_is_requeued_even_past_the_limit() {
        let f = ShardFailure::handed_back("draining");
        assert!(!f.class.is_counted());
        assert_eq!(verdict(&f, 9, 4), Verdict::Requeue);
    }
}
