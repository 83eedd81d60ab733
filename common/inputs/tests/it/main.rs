//! rwclip-inputs's integration tests in one binary: one module per suite, so the
//! dependency graph is linked once and the suites run side by side.

mod dataset;
mod dataset_sources;
mod mask_parity;
mod plan;
mod preprocess_parity;
mod tokenizer_parity;
