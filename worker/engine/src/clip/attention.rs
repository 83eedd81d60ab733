//! Multi-head self-attention with open_clip's (`torch.nn.MultiheadAttention`)
//! parameter layout: one fused `in_proj_weight` / `in_proj_bias` for Q, K, V.

use tch::{nn, nn::Module, Tensor};

#[derive(Debug)]
pub struct MultiHeadAttention {
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: nn::Linear,
    heads: i64,
}

impl MultiHeadAttention {
    pub fn new(p: nn::Path, width: i64, heads: i64) -> MultiHeadAttention {
        // open_clip's text-tower init; the vision tower keeps torch's defaults,
        // which only matters for random-init runs.
        let std = (width as f64).powf(-0.5);
        MultiHeadAttention {
            in_proj_weight: p.randn("in_proj_weight", &[3 * width, width], 0.0, std),
            in_proj_bias: p.zeros("in_proj_bias", &[3 * width]),
            out_proj: nn::linear(&p / "out_proj", width, width, Default::default()),
            heads,
        }
    }

    /// `x`: [batch, tokens, width]. `causal`: token i attends to tokens <= i only.
    pub fn forward(&self, x: &Tensor, causal: bool) -> Tensor {
        let (batch, tokens, width) = x
            .size3()
            .expect("attention input is [batch, tokens, width]");
        let head_width = width / self.heads;
        // [batch, tokens, 3 * width] -> [3, batch, heads, tokens, head_width]
        let qkv = x
            .linear(&self.in_proj_weight, Some(&self.in_proj_bias))
            .view([batch, tokens, 3, self.heads, head_width])
            .permute([2, 0, 3, 1, 4]);
        self.attend(&qkv.get(0), &qkv.get(1), &qkv.get(2), causal)
    }

    /// Attention for the first token's query only, over all keys and values
    /// (non-causal): `x` [batch, tokens, width] -> [batch, 1, width]. What a
    /// last block needs when only the class token is read: the other rows'
    /// queries, output projections and MLPs would be thrown away.
    pub fn forward_first_query(&self, x: &Tensor) -> Tensor {
        let (batch, tokens, width) = x
            .size3()
            .expect("attention input is [batch, tokens, width]");
        let head_width = width / self.heads;
        // The first token as a [batch, width] matrix (rows strided, no copy):
        // a [batch, 1, width] slice would go through a batched matmul that
        // materialises the weight once per batch item.
        let q = x
            .select(1, 0)
            .linear(&self.in_proj_weight.narrow(0, 0, width), Some(&self.in_proj_bias.narrow(0, 0, width)))
            .view([batch, 1, self.heads, head_width])
            .transpose(1, 2);
        let kv = x
            .linear(&self.in_proj_weight.narrow(0, width, 2 * width), Some(&self.in_proj_bias.narrow(0, width, 2 * width)))
            .view([batch, tokens, 2, self.heads, head_width])
            .permute([2, 0, 3, 1, 4]);
        self.attend(&q, &kv.get(0), &kv.get(1), false)
    }

    /// Each query over the keys and values (all [batch, heads, tokens,
    /// head_width]), the heads merged back and projected: [batch, queries, width].
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> Tensor {
        let (batch, heads, queries, head_width) = q.size4().expect("queries are [batch, heads, tokens, head_width]");
        let attended = Tensor::scaled_dot_product_attention(q, k, v, None::<Tensor>, 0.0, causal, None, false);
        self.out_proj.forward(&attended.transpose(1, 2).reshape([batch, queries, heads * head_width]))
    }
}
