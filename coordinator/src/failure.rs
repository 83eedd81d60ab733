//! The one place that decides what a shard failure means.

/// How a worker classified a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Transient: running the shard again may succeed.
    Retryable(String),
    /// Deterministic (corrupt input, bad weights): rerunning cannot help.
    Fatal(String),
    /// The worker is draining and gives the shard back unfinished: not the
    /// shard's fault, so not counted.
    HandedBack(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Retryable(r) | Failure::Fatal(r) | Failure::HandedBack(r) => r,
        }
    }

    /// Whether the attempt counts towards the shard's attempt limit.
    pub fn is_counted(&self) -> bool {
        !matches!(self, Failure::HandedBack(_))
    }
}

/// What the scheduler does with a shard after a counted failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Retry,
    /// Back in the queue, uncounted.
    Requeue,
    Fail(String),
}

/// `attempts` counts the attempt that just failed.
pub fn verdict(failure: &Failure, attempts: u32, max_attempts: u32) -> Verdict {
    match failure {
        Failure::HandedBack(_) => Verdict::Requeue,
        Failure::Fatal(reason) => Verdict::Fail(format!("fatal: {reason}")),
        Failure::Retryable(reason) if attempts >= max_attempts => Verdict::Fail(format!(
            "gave up after {attempts} attempts; last: {reason}"
        )),
        Failure::Retryable(_) => Verdict::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_fails_on_first_attempt() {
        let v = verdict(&Failure::Fatal("corrupt image a.jpg".into()), 1, 4);
        assert_eq!(v, Verdict::Fail("fatal: corrupt image a.jpg".into()));
    }

    #[test]
    fn retryable_retries_until_the_limit() {
        let f = Failure::Retryable("io".into());
        assert_eq!(verdict(&f, 3, 4), Verdict::Retry);
        assert!(matches!(verdict(&f, 4, 4), Verdict::Fail(r) if r.contains("4 attempts")));
    }

    #[test]
    fn handed_back_is_requeued_even_past_the_limit() {
        let f = Failure::HandedBack("draining".into());
        assert!(!f.is_counted());
        assert_eq!(verdict(&f, 9, 4), Verdict::Requeue);
    }
}
