//! What rwclip's model reads, without libtorch: the CLIP tokenizer (and its
//! text cleaning), image decoding and preprocessing, and the synthetic
//! datasets that stand in for real ones in tests and the demo. The
//! coordinator links none of this (the layer check makes sure).
//!
//! Does not belong here: anything that runs the model (`rwclip-engine`),
//! listing datasets (`rwclip-datasets`) or video (`rwclip-decoder`, in a
//! process of its own).

pub mod preprocess;
pub mod synth;
pub mod text_clean;
pub mod tokenizer;
