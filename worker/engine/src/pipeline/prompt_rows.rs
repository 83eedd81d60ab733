//! Prompt pairs as `prompts` artifact rows.

use rwclip_artifacts::PromptRow;
use rwclip_job::prompts::PromptPair;

/// Two rows per pair (normal then anomaly), in pair order.
pub fn prompt_rows(seed: u64, pairs: &[PromptPair]) -> Vec<PromptRow> {
    pairs
        .iter()
        .flat_map(|p| {
            [(0u8, &p.normal), (1u8, &p.anomaly)].map(|(label, text)| PromptRow {
                pair_id: p.pair_id,
                seed,
                label,
                text: text.clone(),
            })
        })
        .collect()
}
