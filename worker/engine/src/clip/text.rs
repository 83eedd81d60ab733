//! open_clip's text tower. Its parameters sit at the model root
//! (`token_embedding`, `positional_embedding`, `transformer`, `ln_final`,
//! `text_projection`), as in open_clip's `CLIP` state dict.

use rwclip_job::clip_config::ClipConfig;
use tch::{nn, nn::Module, Kind, Tensor};

use super::transformer::{layer_norm, Activation, Transformer};

#[derive(Debug)]
pub struct TextTransformer {
    token_embedding: nn::Embedding,
    positional_embedding: Tensor,
    transformer: Transformer,
    ln_final: nn::LayerNorm,
    text_projection: Tensor,
}

impl TextTransformer {
    /// `p` is the model root.
    pub fn new(p: nn::Path, cfg: &ClipConfig) -> TextTransformer {
        let t = &cfg.text;
        let embedding = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        TextTransformer {
            token_embedding: nn::embedding(
                &p / "token_embedding",
                t.vocab_size,
                t.width,
                embedding,
            ),
            positional_embedding: p.randn(
                "positional_embedding",
                &[t.context_length, t.width],
                0.0,
                0.01,
            ),
            transformer: Transformer::new(
                &p / "transformer",
                t.width,
                t.layers,
                t.heads,
                t.mlp_width,
                Activation::for_quick_gelu(cfg.quick_gelu),
            ),
            ln_final: layer_norm(&p / "ln_final", t.width),
            text_projection: p.randn(
                "text_projection",
                &[t.width, cfg.embed_dim],
                0.0,
                (t.width as f64).powf(-0.5),
            ),
        }
    }

    /// `tokens`: [batch, context_length] Int64 -> [batch, embed_dim], unnormalised.
    ///
    /// Pools each sequence at its highest token id, the end-of-text token in
    /// CLIP's vocabulary (open_clip's `argmax` pooling).
    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        let end_of_text = tokens.argmax(-1, false);
        // Causal attention: positions after the batch's last end-of-text token
        // cannot influence any pooled position, so they are not computed at all.
        let used = end_of_text.max().int64_value(&[]) + 1;
        let tokens = tokens.narrow(1, 0, used);
        let x =
            self.token_embedding.forward(&tokens) + self.positional_embedding.narrow(0, 0, used);
        let encoded = self.transformer.forward(&x, true);
        let rows = Tensor::arange(encoded.size()[0], (Kind::Int64, encoded.device()));
        // LayerNorm acts per token, so normalising only the pooled rows is exact.
        let pooled = encoded.index(&[Some(rows), Some(end_of_text)]);
        self.ln_final.forward(&pooled).matmul(&self.text_projection)
    }
}
