//! rwclip-job's integration tests in one binary: one module per suite, so the
//! dependency graph is linked once and the suites run side by side.

mod prompts;
