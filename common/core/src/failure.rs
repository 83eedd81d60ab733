//! Why a shard attempt did not commit: the one classification that workers
//! and the coordinator's own aggregates report and the scheduler acts on.
//! It travels on the wire as a typed field (`rwclip.v1.FailureClass`).

use crate::ids::ShardId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// Transient (store I/O, a lost connection): running it again may succeed.
    Retryable,
    /// The shard's input is wrong (a corrupt image, bad weights, impossible
    /// parameters): it fails the same way on every worker.
    BadInput,
    /// A dependency's committed output is gone from the store: the
    /// coordinator checks and recomputes it, and the attempt is refunded.
    LostDependency,
    /// The worker is draining and gives the shard back unfinished: not the
    /// shard's fault, so not counted.
    HandedBack,
    /// A bug or a libtorch failure: deterministic, rerunning cannot help.
    Internal,
}

impl FailureClass {
    /// Whether the attempt counts towards the shard's attempt limit.
    pub fn is_counted(self) -> bool {
        self != FailureClass::HandedBack
    }

    /// Whether running the shard again can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureClass::Retryable | FailureClass::LostDependency | FailureClass::HandedBack)
    }

    /// For logs and reports.
    pub fn label(self) -> &'static str {
        match self {
            FailureClass::Retryable => "retryable",
            FailureClass::BadInput => "bad input",
            FailureClass::LostDependency => "lost dependency",
            FailureClass::HandedBack => "handed back",
            FailureClass::Internal => "internal",
        }
    }
}

/// A failed attempt as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFailure {
    pub class: FailureClass,
    pub reason: String,
    /// Dependencies the shard found without a committed manifest
    /// ([`FailureClass::LostDependency`]).
    pub missing_dependencies: Vec<ShardId>,
}

impl ShardFailure {
    pub fn new(class: FailureClass, reason: impl Into<String>) -> ShardFailure {
        ShardFailure { class, reason: reason.into(), missing_dependencies: Vec::new() }
    }

    pub fn retryable(reason: impl Into<String>) -> ShardFailure {
        ShardFailure::new(FailureClass::Retryable, reason)
    }

    pub fn bad_input(reason: impl Into<String>) -> ShardFailure {
        ShardFailure::new(FailureClass::BadInput, reason)
    }

    pub fn handed_back(reason: impl Into<String>) -> ShardFailure {
        ShardFailure::new(FailureClass::HandedBack, reason)
    }

    pub fn internal(reason: impl Into<String>) -> ShardFailure {
        ShardFailure::new(FailureClass::Internal, reason)
    }

    pub fn lost_dependencies(reason: impl Into<String>, missing: Vec<ShardId>) -> ShardFailure {
        ShardFailure { class: FailureClass::LostDependency, reason: reason.into(), missing_dependencies: missing }
    }
}
