//! What a worker keeps between shards: loaded CLIP models (the expensive
//! part of every embedding shard) and the tokenizer.

use std::path::Path;
use std::rc::Rc;

use rwclip_job::clip_config::ClipConfig;
use rwclip_plan::ModelRef;
use rwclip_inputs::tokenizer::ClipTokenizer;

use crate::blocking_store::BlockingStore;
use crate::clip::ClipModel;
use crate::error::{Result, EngineError};

pub struct ExecContext {
    pub device: tch::Device,
    /// Most recently used last.
    models: Vec<(String, Rc<ClipModel>)>,
    capacity: usize,
    tokenizer: Option<Rc<ClipTokenizer>>,
    /// Weights digests by model key (hashing a weights file once per worker).
    digests: std::collections::HashMap<String, String>,
}

impl ExecContext {
    /// Keeps at most `capacity` models loaded (at least one).
    pub fn new(device: tch::Device, capacity: usize) -> ExecContext {
        ExecContext {
            device,
            models: Vec::new(),
            capacity: capacity.max(1),
            tokenizer: None,
            digests: std::collections::HashMap::new(),
        }
    }

    /// The model of `m`, loaded on first use; the least recently used one
    /// is dropped when the cache is full.
    pub fn model(&mut self, m: &ModelRef) -> Result<Rc<ClipModel>> {
        let key = m.key();
        if let Some(i) = self.models.iter().position(|(k, _)| *k == key) {
            let entry = self.models.remove(i);
            self.models.push(entry);
        } else {
            let cfg = ClipConfig::preset(&m.preset).map_err(|e| EngineError::Usage(e.to_string()))?;
            let model = match m.weights.as_deref() {
                // Weights in object storage are fetched once per load; the
                // bounded model cache keeps them across shards.
                Some(uri) if uri.contains("://") => {
                    let (store, name) = BlockingStore::open_file(uri)?;
                    let bytes = store.get(&name)?;
                    ClipModel::load_named_bytes(&cfg, &bytes, uri, self.device)?
                }
                local => ClipModel::load(&cfg, local.map(Path::new), self.device)?,
            }
            .with_precision(m.precision);
            if self.models.len() == self.capacity {
                self.models.remove(0);
            }
            self.models.push((key, Rc::new(model)));
        }
        Ok(self.models.last().expect("just pushed").1.clone())
    }

    pub fn tokenizer(&mut self) -> Result<Rc<ClipTokenizer>> {
        if self.tokenizer.is_none() {
            self.tokenizer = Some(Rc::new(ClipTokenizer::new()?));
        }
        Ok(self.tokenizer.clone().expect("just set"))
    }

    /// The digest detectors record of `m`'s weights (see
    /// `rwclip_job::detector::weights_digest`).
    pub fn weights_digest(&mut self, m: &ModelRef) -> Result<String> {
        let key = m.key();
        if let Some(d) = self.digests.get(&key) {
            return Ok(d.clone());
        }
        let digest = weights_digest_of(m.weights.as_deref())?;
        self.digests.insert(key, digest.clone());
        Ok(digest)
    }

    /// Keys of the loaded models, least recently used first.
    pub fn loaded(&self) -> Vec<&str> {
        self.models.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// The weights digest of a weights location (`None`: random init): the
/// file's bytes read from a local path or through the store.
pub fn weights_digest_of(weights: Option<&str>) -> Result<String> {
    use rwclip_job::detector::{weights_digest, RANDOM_INIT_DIGEST};
    let Some(uri) = weights else { return Ok(RANDOM_INIT_DIGEST.to_string()) };
    let bytes = if uri.contains("://") {
        let (store, name) = BlockingStore::open_file(uri)?;
        store.get(&name)?.to_vec()
    } else {
        std::fs::read(uri).map_err(|e| EngineError::io(uri, e))?
    };
    Ok(weights_digest(&bytes))
}
