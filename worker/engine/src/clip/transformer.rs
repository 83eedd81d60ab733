//! open_clip's `Transformer`: a stack of pre-LayerNorm residual blocks
//! (`resblocks.N.{ln_1, attn, ln_2, mlp.c_fc, mlp.c_proj}`), shared by both towers.

use tch::{nn, nn::Module, Tensor};

use super::attention::MultiHeadAttention;

/// open_clip builds every LayerNorm with torch's default epsilon.
pub const LAYER_NORM_EPS: f64 = 1e-5;

pub fn layer_norm(p: nn::Path, width: i64) -> nn::LayerNorm {
    let config = nn::LayerNormConfig {
        eps: LAYER_NORM_EPS,
        ..Default::default()
    };
    nn::layer_norm(p, vec![width], config)
}

/// The MLP non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// torch's `nn.GELU()` (erf form, no tanh approximation).
    Gelu,
    /// `x * sigmoid(1.702 x)`, what OpenAI's CLIP was trained with.
    QuickGelu,
}

impl Activation {
    pub fn for_quick_gelu(quick_gelu: bool) -> Activation {
        if quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        }
    }

    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Gelu => x.gelu("none"),
            Activation::QuickGelu => x * (x * 1.702).sigmoid(),
        }
    }
}

#[derive(Debug)]
struct ResidualAttentionBlock {
    ln_1: nn::LayerNorm,
    attn: MultiHeadAttention,
    ln_2: nn::LayerNorm,
    c_fc: nn::Linear,
    c_proj: nn::Linear,
    activation: Activation,
}

impl ResidualAttentionBlock {
    fn new(p: nn::Path, width: i64, heads: i64, mlp_width: i64, activation: Activation) -> Self {
        let mlp = &p / "mlp";
        ResidualAttentionBlock {
            ln_1: layer_norm(&p / "ln_1", width),
            attn: MultiHeadAttention::new(&p / "attn", width, heads),
            ln_2: layer_norm(&p / "ln_2", width),
            c_fc: nn::linear(&mlp / "c_fc", width, mlp_width, Default::default()),
            c_proj: nn::linear(&mlp / "c_proj", mlp_width, width, Default::default()),
            activation,
        }
    }

    fn forward(&self, x: &Tensor, causal: bool) -> Tensor {
        self.mlp_residual(&(x + self.attn.forward(&self.ln_1.forward(x), causal)))
    }

    /// The block's output for the first token only (non-causal): [batch, 1, width].
    fn forward_first_token(&self, x: &Tensor) -> Tensor {
        self.mlp_residual(&(x.narrow(1, 0, 1) + self.attn.forward_first_query(&self.ln_1.forward(x))))
    }

    /// `x + mlp(ln_2(x))`, the block's second half.
    fn mlp_residual(&self, x: &Tensor) -> Tensor {
        let hidden = self
            .activation
            .apply(&self.c_fc.forward(&self.ln_2.forward(x)));
        x + self.c_proj.forward(&hidden)
    }
}

#[derive(Debug)]
pub struct Transformer {
    resblocks: Vec<ResidualAttentionBlock>,
}

impl Transformer {
    pub fn new(
        p: nn::Path,
        width: i64,
        layers: i64,
        heads: i64,
        mlp_width: i64,
        activation: Activation,
    ) -> Transformer {
        let blocks = &p / "resblocks";
        let resblocks = (0..layers)
            .map(|i| ResidualAttentionBlock::new(&blocks / i, width, heads, mlp_width, activation))
            .collect();
        Transformer { resblocks }
    }

    /// `x`: [batch, tokens, width] -> same shape.
    pub fn forward(&self, x: &Tensor, causal: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for block in &self.resblocks {
            x = block.forward(&x, causal);
        }
        x
    }

    /// The first (class) token's output of a non-causal pass: [batch, tokens,
    /// width] -> [batch, width]. Equal to `forward(x, false).select(1, 0)`;
    /// the last block computes only what that token needs.
    pub fn forward_class_token(&self, x: &Tensor) -> Tensor {
        let Some((last, blocks)) = self.resblocks.split_last() else {
            return x.select(1, 0);
        };
        let mut x = x.shallow_clone();
        for block in blocks {
            x = block.forward(&x, false);
        }
        last.forward_first_token(&x).select(1, 0)
    }
}
