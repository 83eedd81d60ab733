//! The dual encoder (`Clip`) and a loaded, ready-to-run instance (`ClipModel`).

use std::path::Path;

use rwclip_job::clip_config::ClipConfig;
use rwclip_job::Precision;
use tch::{nn, Device, Tensor};

use super::text::TextTransformer;
use super::vision::VisionTransformer;
use super::weights::{load_strict, WeightsError};
use crate::device_fit::DeviceFit;

/// Seed of the global libtorch RNG for weight-less (random) models, so a demo
/// run without weights is still reproducible.
pub const RANDOM_INIT_SEED: i64 = 0x5eed;

/// open_clip's `CLIP` with a ViT image tower. Both encoders run under
/// `tch::no_grad`: this is an inference-only model (the paper keeps CLIP frozen).
#[derive(Debug)]
pub struct Clip {
    towers: TowerSet,
    logit_scale: Tensor,
    device: Device,
    /// What the parameters are held and computed in (Float unless set).
    kind: tch::Kind,
    /// How many items fit through the device at once (CUDA).
    fit: DeviceFit,
    /// The vision tower's token geometry, for unpacking token outputs.
    vision: VisionGeometry,
    embed_dim: i64,
}

/// Which towers a model holds: a command that embeds only text (or only
/// images) loads only that tower's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Towers {
    Both,
    Text,
    Vision,
}

impl Towers {
    /// Whether this set holds the tower a state-dict key belongs to
    /// (`visual.*` is the vision tower's, `logit_scale` both's, the rest the text tower's).
    fn holds_key(self, key: &str) -> bool {
        match self {
            Towers::Both => true,
            Towers::Vision => key.starts_with("visual.") || key == "logit_scale",
            Towers::Text => !key.starts_with("visual."),
        }
    }
}

#[derive(Debug)]
enum TowerSet {
    Both { visual: VisionTransformer, text: TextTransformer },
    Text(TextTransformer),
    Vision(VisionTransformer),
}

#[derive(Debug, Clone, Copy)]
struct VisionGeometry {
    /// Patches per side.
    grid: i64,
    width: i64,
}

/// What one pass over whole images gives the map methods (f32, on the
/// model's device).
#[derive(Debug)]
pub struct ImageTokens {
    /// [B, embed_dim], unnormalised: what `encode_image` gives.
    pub embeddings: Tensor,
    /// [B, grid², width]: every patch token after `ln_post`, not projected.
    pub patch_tokens: Tensor,
    /// [B, 1 + grid², width]: tokens after the positional embedding, before `ln_pre`.
    pub embedded: Tensor,
}

impl Clip {
    /// Registers every parameter under its open_clip state-dict name below `p`.
    pub fn new(p: &nn::Path, cfg: &ClipConfig) -> Clip {
        Clip::with_towers(p, cfg, Towers::Both)
    }

    /// As [`Clip::new`], registering only the parameters of `towers`.
    pub fn with_towers(p: &nn::Path, cfg: &ClipConfig, towers: Towers) -> Clip {
        let init_logit_scale = (1.0f64 / 0.07).ln();
        let towers = match towers {
            Towers::Both => TowerSet::Both { visual: VisionTransformer::new(p / "visual", cfg), text: TextTransformer::new(p.clone(), cfg) },
            Towers::Text => TowerSet::Text(TextTransformer::new(p.clone(), cfg)),
            Towers::Vision => TowerSet::Vision(VisionTransformer::new(p / "visual", cfg)),
        };
        Clip {
            towers,
            logit_scale: p.var("logit_scale", &[], nn::Init::Const(init_logit_scale)),
            device: p.device(),
            kind: tch::Kind::Float,
            fit: DeviceFit::new(p.device()),
            vision: VisionGeometry {
                grid: cfg.vision.grid_size(),
                width: cfg.vision.width,
            },
            embed_dim: cfg.embed_dim,
        }
    }

    /// The vision tower; panics when the model was loaded for text only (a bug in the caller).
    fn visual(&self) -> &VisionTransformer {
        match &self.towers {
            TowerSet::Both { visual, .. } | TowerSet::Vision(visual) => visual,
            TowerSet::Text(_) => panic!("this CLIP was loaded with its text tower only; images need the vision tower"),
        }
    }

    /// The text tower; panics when the model was loaded for images only.
    fn text(&self) -> &TextTransformer {
        match &self.towers {
            TowerSet::Both { text, .. } | TowerSet::Text(text) => text,
            TowerSet::Vision(_) => panic!("this CLIP was loaded with its vision tower only; prompts need the text tower"),
        }
    }

    /// `tokens`: [N, context_length] Int64 (tokenizer output, end-of-text token
    /// = highest id) -> [N, embed_dim] f32 on the model's device, unnormalised.
    /// Panics on malformed tokens (wrong rank, ids outside the vocabulary):
    /// they can only come from a bug, not from user data.
    pub fn encode_text(&self, tokens: &Tensor) -> Tensor {
        let n = tokens.size().first().copied().unwrap_or(0) as usize;
        self.fit.run(n, |start, len| tch::no_grad(|| self.text().forward(&tokens.narrow(0, start, len).to_device(self.device)).to_kind(tch::Kind::Float)))
    }

    /// `pixels`: [N, 3, S, S] f32, already resized and normalised with the
    /// OpenAI mean/std -> [N, embed_dim] f32 on the model's device, unnormalised.
    /// Panics when S differs from the configured image size.
    pub fn encode_image(&self, pixels: &Tensor) -> Tensor {
        let n = pixels.size().first().copied().unwrap_or(0) as usize;
        self.fit.run(n, |start, len| tch::no_grad(|| self.visual().forward(&self.on_device(&pixels.narrow(0, start, len))).to_kind(tch::Kind::Float)))
    }

    /// One pass over whole images for the map methods: the image embeddings,
    /// the patch tokens and the embedded tokens windows are cut from.
    /// `pixels` as for [`Clip::encode_image`]; everything leaves as f32.
    pub fn encode_image_tokens(&self, pixels: &Tensor) -> ImageTokens {
        let n = pixels.size().first().copied().unwrap_or(0) as usize;
        // Both outputs travel through the batch fitting as one flat row each.
        let packed = self.fit.run(n, |start, len| {
            tch::no_grad(|| {
                let embedded = self.visual().embed(&self.on_device(&pixels.narrow(0, start, len)));
                let (pooled, tokens) = self.visual().forward_tokens(&embedded);
                Tensor::cat(&[pooled, tokens.flatten(1, 2), embedded.flatten(1, 2)], 1).to_kind(tch::Kind::Float)
            })
        });
        let v = &self.vision;
        let (dim, width, patches) = (self.embed_dim, v.width, v.grid * v.grid);
        let tokens_len = patches * width;
        ImageTokens {
            embeddings: packed.narrow(1, 0, dim),
            patch_tokens: packed.narrow(1, dim, tokens_len).view([-1, patches, width]),
            embedded: packed.narrow(1, dim + tokens_len, (patches + 1) * width).view([-1, patches + 1, width]),
        }
    }

    /// Window embeddings: `embedded` [B, 1 + grid², width] from
    /// [`Clip::encode_image_tokens`], `windows` [W, 1 + k²] Int64 token
    /// indices (0 the class token, patch p at p + 1), one window per row.
    /// Every window of every image is one sequence; all go through in as few
    /// passes as the device holds -> [B, W, embed_dim] f32, unnormalised.
    pub fn encode_windows(&self, embedded: &Tensor, windows: &Tensor) -> Tensor {
        let (batch, _, width) = embedded.size3().expect("embedded tokens are [batch, tokens, width]");
        let (count, length) = windows.size2().expect("windows are [count, length]");
        let sequences = embedded
            .to_device(self.device)
            .to_kind(self.kind)
            .index_select(1, &windows.to_device(self.device).flatten(0, 1))
            .view([batch * count, length, width]);
        let n = (batch * count) as usize;
        let pooled = self.fit.run(n, |start, len| {
            tch::no_grad(|| self.visual().forward_sequences(&sequences.narrow(0, start, len)).to_kind(tch::Kind::Float))
        });
        pooled.view([batch, count, -1])
    }

    /// Patch tokens [.., width] into the joint embedding space [.., embed_dim].
    pub fn project_patch_tokens(&self, tokens: &Tensor) -> Tensor {
        tch::no_grad(|| self.visual().project(&tokens.to_device(self.device).to_kind(self.kind)).to_kind(tch::Kind::Float))
    }

    /// Pixels on the model's device in its precision. From the CPU to CUDA
    /// the copy goes through pinned memory without blocking the host, which
    /// goes on preparing the next batch.
    fn on_device(&self, pixels: &Tensor) -> Tensor {
        if self.device.is_cuda() && pixels.device() == Device::Cpu {
            pixels.pin_memory(self.device).to_device_(self.device, self.kind, true, false)
        } else {
            pixels.to_device(self.device).to_kind(self.kind)
        }
    }

    /// CLIP's learned softmax temperature, `exp(logit_scale)` (100 for OpenAI weights).
    pub fn logit_scale(&self) -> f64 {
        self.logit_scale.to_kind(tch::Kind::Double).exp().double_value(&[])
    }
}

/// A CLIP with its own (frozen) VarStore.
#[derive(Debug)]
pub struct ClipModel {
    pub cfg: ClipConfig,
    pub vs: nn::VarStore,
    pub clip: Clip,
}

impl ClipModel {
    /// Random init (the global libtorch RNG seeded with [`RANDOM_INIT_SEED`])
    /// when `weights` is None; otherwise a strict load of that safetensors file.
    pub fn load(
        cfg: &ClipConfig,
        weights: Option<&Path>,
        device: Device,
    ) -> Result<ClipModel, WeightsError> {
        ClipModel::load_towers(cfg, weights, device, Towers::Both)
    }

    /// As [`ClipModel::load`] with only `towers` in memory: the other
    /// tower's tensors in the file are skipped unread. A random init draws
    /// both towers (so each tower's weights are the same whichever a
    /// command loads) and keeps the one asked for.
    pub fn load_towers(
        cfg: &ClipConfig,
        weights: Option<&Path>,
        device: Device,
        towers: Towers,
    ) -> Result<ClipModel, WeightsError> {
        let Some(path) = weights else {
            // libtorch's RNG is global to the process: a worker running several
            // shards at once must not interleave two random inits, or the
            // weights would depend on thread timing.
            static RANDOM_INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _guard = RANDOM_INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            tch::manual_seed(RANDOM_INIT_SEED);
            let both = ClipModel::build(cfg, device, Towers::Both);
            if towers == Towers::Both {
                return Ok(both);
            }
            let mut kept = ClipModel::build(cfg, device, towers);
            kept.vs.copy(&both.vs).expect("a tower's variables are a subset of both towers'");
            return Ok(kept);
        };
        let unreadable = |source| WeightsError::Unreadable { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        // SAFETY: the map is only read, and dropped before this returns; a
        // weights file rewritten while a model loads from it is not supported
        // (the strict load would most likely reject the torn bytes).
        let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(unreadable)?;
        let model = ClipModel::build(cfg, device, towers);
        load_strict(&model.vs, &bytes, &path.display().to_string(), &|key| !towers.holds_key(key))?;
        Ok(model)
    }

    /// Strict load from safetensors bytes already in memory (e.g. fetched from
    /// object storage).
    pub fn load_bytes(
        cfg: &ClipConfig,
        safetensors_bytes: &[u8],
        device: Device,
    ) -> Result<ClipModel, WeightsError> {
        ClipModel::load_named_bytes(
            cfg,
            safetensors_bytes,
            "in-memory safetensors weights",
            device,
        )
    }

    /// As [`ClipModel::load_bytes`], naming the bytes' origin (e.g. an object
    /// key) in errors.
    pub fn load_named_bytes(
        cfg: &ClipConfig,
        safetensors_bytes: &[u8],
        origin: &str,
        device: Device,
    ) -> Result<ClipModel, WeightsError> {
        let model = ClipModel::build(cfg, device, Towers::Both);
        load_strict(&model.vs, safetensors_bytes, origin, &|_| false)?;
        Ok(model)
    }

    /// Holds and computes the towers in `precision` (weights converted once,
    /// after loading); inputs are converted on the way in and embeddings
    /// leave as f32 whatever the precision.
    pub fn with_precision(mut self, precision: Precision) -> ClipModel {
        let kind = match precision {
            Precision::Fp32 => return self,
            Precision::Bf16 => tch::Kind::BFloat16,
            Precision::Fp16 => tch::Kind::Half,
        };
        self.vs.set_kind(kind);
        self.clip.kind = kind;
        self
    }

    fn build(cfg: &ClipConfig, device: Device, towers: Towers) -> ClipModel {
        let mut vs = nn::VarStore::new(device);
        let clip = Clip::with_towers(&vs.root(), cfg, towers);
        vs.freeze();
        ClipModel {
            cfg: cfg.clone(),
            vs,
            clip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs made without libtorch's global RNG: random inits on other
    /// test threads seed and draw from it, and a draw here between their
    /// seeding and their drawing would change their weights.
    fn inputs(cfg: &ClipConfig, images: i64, prompts: i64) -> (Tensor, Tensor) {
        let size = cfg.vision.image_size;
        let pixels = Tensor::arange(images * 3 * size * size, (tch::Kind::Float, Device::Cpu)).sin().view([images, 3, size, size]);
        let ctx = cfg.text.context_length;
        let tokens = (Tensor::arange(prompts * ctx, (tch::Kind::Int64, Device::Cpu)) * 7919).remainder(cfg.text.vocab_size - 1).view([prompts, ctx]);
        (pixels, tokens)
    }

    /// A model loaded for one tower holds only that tower's tensors and
    /// encodes exactly as the whole model does, from a file or at random init.
    #[test]
    fn one_tower_alone_encodes_as_the_whole_model() {
        let cfg = ClipConfig::preset("rwclip-tiny").unwrap();
        let both = ClipModel::load(&cfg, None, Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        both.vs.save(&file).unwrap();
        let (pixels, tokens) = inputs(&cfg, 2, 3);
        let (text, image) = (both.clip.encode_text(&tokens), both.clip.encode_image(&pixels));
        for weights in [None, Some(file.as_path())] {
            let text_only = ClipModel::load_towers(&cfg, weights, Device::Cpu, Towers::Text).unwrap();
            assert!(text_only.vs.variables().keys().all(|k| !k.starts_with("visual.")), "no vision tensor kept");
            let diff = (text_only.clip.encode_text(&tokens) - &text).abs().max().double_value(&[]);
            assert!(diff == 0.0, "text tower alone ({weights:?}): differs by {diff}");
            let vision_only = ClipModel::load_towers(&cfg, weights, Device::Cpu, Towers::Vision).unwrap();
            assert!(vision_only.vs.variables().keys().all(|k| k.starts_with("visual.") || k == "logit_scale"));
            assert!(vision_only.clip.encode_image(&pixels).equal(&image), "vision tower alone ({weights:?})");
        }
        let panicked = std::panic::catch_unwind(|| {
            let text_only = ClipModel::load_towers(&cfg, None, Device::Cpu, Towers::Text).unwrap();
            text_only.clip.encode_image(&pixels)
        });
        assert!(panicked.is_err(), "images through a text-only model are a caller's bug, refused loudly");
    }

    /// A window's embedding (the class token alone through the last block)
    /// is the class token of the whole pass over the same sequence.
    #[test]
    fn sequences_encode_their_class_token_as_the_whole_pass_does() {
        let cfg = ClipConfig::preset("rwclip-tiny").unwrap();
        let model = ClipModel::load(&cfg, None, Device::Cpu).unwrap();
        // torch initialises attention biases to 0; give Q, K and V their own.
        for (name, mut bias) in model.vs.variables() {
            if name.ends_with("in_proj_bias") {
                let n = bias.size()[0];
                tch::no_grad(|| bias.copy_(&(Tensor::arange(n, (tch::Kind::Float, Device::Cpu)) * 0.37).sin()));
            }
        }
        let (pixels, _) = inputs(&cfg, 3, 1);
        let visual = model.clip.visual();
        tch::no_grad(|| {
            let embedded = visual.embed(&pixels);
            let (whole, _) = visual.forward_tokens(&embedded);
            let windows = embedded.index_select(1, &Tensor::from_slice(&[0i64, 1, 2, 5]));
            let (whole_windows, _) = visual.forward_tokens(&windows);
            for (want, got) in [(whole, visual.forward_sequences(&embedded)), (whole_windows, visual.forward_sequences(&windows))] {
                let diff = (&want - &got).abs().max().double_value(&[]);
                let scale = want.abs().max().double_value(&[]);
                assert!(diff <= 1e-6 * scale.max(1.0), "class token alone through the last block differs by {diff}");
            }
        });
    }

    /// Both towers split along the batch when the device runs out of memory
    /// give what the whole batch gives (here libtorch's error is raised by
    /// a forward pass that "fits" at most 3 items; the towers are real).
    #[test]
    fn a_batch_split_after_out_of_memory_encodes_as_the_whole_batch() {
        let cfg = ClipConfig::preset("rwclip-tiny").unwrap();
        let mut model = ClipModel::load(&cfg, None, Device::Cpu).unwrap();
        let (pixels, tokens) = inputs(&cfg, 8, 8);
        let (whole_image, whole_text) = (model.clip.encode_image(&pixels), model.clip.encode_text(&tokens));
        model.clip.fit = DeviceFit::always();
        let oom_above_3 = |t: &Tensor| {
            if t.size()[0] > 3 {
                panic!("Torch(\"CUDA out of memory. Tried to allocate 1.00 GiB\")");
            }
        };
        let clip = &model.clip;
        let split_image = clip.fit.run(8, |s, l| {
            let part = pixels.narrow(0, s, l);
            oom_above_3(&part);
            tch::no_grad(|| clip.visual().forward(&part))
        });
        let split_text = clip.fit.run(8, |s, l| {
            let part = tokens.narrow(0, s, l);
            oom_above_3(&part);
            tch::no_grad(|| clip.text().forward(&part))
        });
        assert_eq!(clip.fit.limit(), Some(2), "8 → 4 → 2");
        for (whole, split) in [(whole_image, split_image), (whole_text, split_text)] {
            let diff = (whole - split).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "split batches differ from the whole batch by {diff}");
        }
    }
}
