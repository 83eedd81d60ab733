//! open_clip's ViT CLIP in libtorch (tch), candle-transformers style: one
//! struct per sub-network, built from an `nn::Path` whose variable names are
//! exactly open_clip's state-dict keys (`visual.conv1.weight`,
//! `transformer.resblocks.0.attn.in_proj_weight`, `logit_scale`, ...), so an
//! open_clip checkpoint converted by `tools/convert_openclip.py` loads as is.
//!
//! Matches open_clip numerically (see tests/clip_parity.rs): exact or quick
//! GELU per config, LayerNorm eps 1e-5, causal text attention pooled at the
//! end-of-text token, class-token pooling for images.

mod attention;
mod model;
mod text;
mod transformer;
mod vision;
mod weights;

pub use model::{Clip, ClipModel, ImageTokens, Towers, RANDOM_INIT_SEED};
pub use rwclip_job::clip_config::ClipConfig;
pub use weights::{load_strict, WeightsError};
