//! Totals the scheduler keeps for `/metrics`.

/// Running totals since this coordinator started, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Prompts encoded by committed text shards.
    pub prompts: u64,
    /// Images encoded or scored by committed shards.
    pub images: u64,
    /// Store operations the loop's effects reported failed.
    pub store_errors: u64,
}
