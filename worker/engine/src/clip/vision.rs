//! open_clip's `VisionTransformer` (`visual.*`): patchify with a strided conv,
//! prepend the class token, add learned positions, `ln_pre`, transformer,
//! `ln_post` on the class token, project into the joint embedding space.

use rwclip_job::clip_config::ClipConfig;
use tch::{nn, nn::Module, Tensor};

use super::transformer::{layer_norm, Activation, Transformer};

#[derive(Debug)]
pub struct VisionTransformer {
    conv1: nn::Conv2D,
    class_embedding: Tensor,
    positional_embedding: Tensor,
    ln_pre: nn::LayerNorm,
    transformer: Transformer,
    ln_post: nn::LayerNorm,
    proj: Tensor,
}

impl VisionTransformer {
    /// `p` is the `visual` sub-path.
    pub fn new(p: nn::Path, cfg: &ClipConfig) -> VisionTransformer {
        let v = &cfg.vision;
        let conv = nn::ConvConfig {
            stride: v.patch_size,
            bias: false,
            ..Default::default()
        };
        // open_clip's `scale * randn` init for the embeddings and projection.
        let scale = (v.width as f64).powf(-0.5);
        VisionTransformer {
            conv1: nn::conv2d(&p / "conv1", 3, v.width, v.patch_size, conv),
            class_embedding: p.randn("class_embedding", &[v.width], 0.0, scale),
            positional_embedding: p.randn(
                "positional_embedding",
                &[v.num_tokens(), v.width],
                0.0,
                scale,
            ),
            ln_pre: layer_norm(&p / "ln_pre", v.width),
            transformer: Transformer::new(
                &p / "transformer",
                v.width,
                v.layers,
                v.heads,
                v.mlp_width,
                Activation::for_quick_gelu(cfg.quick_gelu),
            ),
            ln_post: layer_norm(&p / "ln_post", v.width),
            proj: p.randn("proj", &[v.width, cfg.embed_dim], 0.0, scale),
        }
    }

    /// `pixels`: [batch, 3, image_size, image_size], already normalised ->
    /// [batch, embed_dim], unnormalised.
    pub fn forward(&self, pixels: &Tensor) -> Tensor {
        let encoded = self.transformer.forward(&self.ln_pre.forward(&self.embed(pixels)), false);
        self.ln_post.forward(&encoded.select(1, 0)).matmul(&self.proj)
    }

    /// The class token and the patch tokens as they are after the positional
    /// embedding, before `ln_pre`: [batch, 1 + grid², width]. Windows are cut
    /// from these (WinCLIP's hook on `patch_dropout`).
    pub fn embed(&self, pixels: &Tensor) -> Tensor {
        // [batch, width, grid, grid] -> [batch, grid * grid, width]
        let patches = self.conv1.forward(pixels).flatten(2, 3).transpose(1, 2);
        let (batch, _, width) = patches.size3().expect("patch embeddings are 3-d");
        let class_token = self
            .class_embedding
            .view([1, 1, width])
            .expand([batch, 1, width], false);
        Tensor::cat(&[class_token, patches], 1) + &self.positional_embedding
    }

    /// The whole image from its embedded tokens: the projected class token
    /// [batch, embed_dim] and every patch token after `ln_post`, not
    /// projected [batch, grid², width] (open_clip's `output_tokens`).
    pub fn forward_tokens(&self, embedded: &Tensor) -> (Tensor, Tensor) {
        let encoded = self.ln_post.forward(&self.transformer.forward(&self.ln_pre.forward(embedded), false));
        let pooled = encoded.select(1, 0).matmul(&self.proj);
        (pooled, encoded.narrow(1, 1, encoded.size()[1] - 1))
    }

    /// Each window as its own sequence: `sequences` [n, 1 + k², width] of
    /// embedded tokens (the class token first) -> `ln_pre` -> transformer ->
    /// `ln_post` -> class token -> `proj`: [n, embed_dim].
    pub fn forward_sequences(&self, sequences: &Tensor) -> Tensor {
        let class_token = self.transformer.forward_class_token(&self.ln_pre.forward(sequences));
        self.ln_post.forward(&class_token).matmul(&self.proj)
    }

    /// Patch tokens into the joint embedding space: [.., width] -> [.., embed_dim].
    pub fn project(&self, tokens: &Tensor) -> Tensor {
        tokens.matmul(&self.proj)
    }
}
