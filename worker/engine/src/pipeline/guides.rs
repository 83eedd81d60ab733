//! The two guide prompts of prompt-guided AD (§3.1) and s_pr per image.
//!
//! In the unknown-object setup every image is scored against
//! "a photo of [n] object" / "a photo of [a] object"; in the known-object
//! setup the object word is the image's category name.

use std::collections::BTreeMap;

use rwclip_datasets::ImageRecord;
use rwclip_job::ObjectSetup;
use rwclip_job::prompts::guide_prompts;
use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::Tensor;

use crate::clip::ClipModel;
use crate::embed::embed_texts;
use crate::error::Result;
use crate::score::prompt_score;

/// Guide-prompt embeddings for every object word a run needs.
pub struct Guides {
    /// object word -> (normal prompt embedding [D], anomaly prompt embedding [D])
    by_object: BTreeMap<String, (Tensor, Tensor)>,
}

impl Guides {
    pub fn embed(
        model: &ClipModel,
        tokenizer: &ClipTokenizer,
        normal_word: &str,
        anomaly_word: &str,
        objects: &[String],
    ) -> Result<Guides> {
        let mut texts = Vec::with_capacity(objects.len() * 2);
        for object in objects {
            let (n, a) = guide_prompts(normal_word, anomaly_word, object);
            texts.push(n);
            texts.push(a);
        }
        let emb = embed_texts(model, tokenizer, &texts, texts.len().max(1), None)?;
        let mut by_object = BTreeMap::new();
        for (i, object) in objects.iter().enumerate() {
            by_object.insert(object.clone(), (emb.get(2 * i as i64), emb.get(2 * i as i64 + 1)));
        }
        Ok(Guides { by_object })
    }

    /// The (normal, anomaly) guide embeddings of one object word, if embedded.
    pub fn pair(&self, object: &str) -> Option<(&Tensor, &Tensor)> {
        self.by_object.get(object).map(|(n, a)| (n, a))
    }

    /// s_pr for every image under one setup, in `records` order.
    pub fn prompt_scores(
        &self,
        setup: ObjectSetup,
        object_word: &str,
        records: &[ImageRecord],
        image_emb: &Tensor,
        temperature: f64,
    ) -> Vec<f64> {
        let mut scores = vec![0.0; records.len()];
        // Group images by the object word they are scored against, so each
        // group is one batched call.
        let mut groups: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let object = match setup {
                ObjectSetup::Unknown => object_word,
                ObjectSetup::Known => r.category.as_str(),
            };
            groups.entry(object).or_default().push(i as i64);
        }
        for (object, idx) in groups {
            let (n, a) = &self.by_object[&object_name(object)];
            let sub = image_emb.index_select(0, &Tensor::from_slice(&idx));
            let s = Vec::<f64>::try_from(prompt_score(&sub, n, a, temperature).to_kind(tch::Kind::Double))
                .expect("score vector");
            for (k, &i) in idx.iter().enumerate() {
                scores[i as usize] = s[k];
            }
        }
        scores
    }
}

/// Object words a run needs for its setups.
pub fn objects_for(setups: &[ObjectSetup], object_word: &str, categories: &[String]) -> Vec<String> {
    let mut objects = Vec::new();
    if setups.contains(&ObjectSetup::Unknown) {
        objects.push(object_word.to_string());
    }
    if setups.contains(&ObjectSetup::Known) {
        for c in categories {
            let name = object_name(c);
            if !objects.contains(&name) {
                objects.push(name);
            }
        }
    }
    objects
}

/// The object word for a category: dataset folder names use underscores
/// ("metal_nut"), prompts use words ("metal nut"), as WinCLIP does.
pub fn object_name(category: &str) -> String {
    category.replace('_', " ")
}
