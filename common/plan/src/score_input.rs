//! The rows a scoring shard scores: a range of a manifest, of a listed
//! prefix, or of one video's sampled frames. `rwclip-scoring` cuts inputs
//! into these; the worker reads them.

use serde::{Deserialize, Serialize};

use crate::pipe_span::PipeSpan;

/// The rows of one scoring shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum InputRange {
    /// Records in bytes `start..end` of a CSV manifest (after its header);
    /// `uri` is the column at `uri_column`, relative ones below `folder`.
    Csv { folder: String, file: String, uri_column: usize, start: u64, end: u64, first_line: u64, digest: String },
    /// Rows `start .. start + rows` of a Parquet manifest's `uri` column.
    Parquet { folder: String, file: String, start: u64, rows: u64, digest: String },
    /// Image keys of `root` sorting after `after` (from the first key when
    /// `None`) up to and including `last`.
    Keys { root: String, after: Option<String>, last: String, digest: String },
    /// The video `key` of `root` (`size` bytes), its fps ticks `first_tick`
    /// up to `end_tick` (to its end when `None`): a long video is cut into
    /// several such shards. A manifest's video keeps the manifest's `name`
    /// for it and the metres of pipe it covers.
    Video {
        root: String,
        key: String,
        size: u64,
        first_tick: u64,
        end_tick: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        span: Option<PipeSpan>,
        /// Why the planner did not believe the length the header states
        /// (the video is then one open-ended shard); its row says this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        length_note: Option<String>,
    },
}

impl InputRange {
    /// Where the rows' relative image URIs resolve: the manifest's folder,
    /// or the listed prefix.
    pub fn root(&self) -> &str {
        match self {
            InputRange::Csv { folder, .. } | InputRange::Parquet { folder, .. } => folder,
            InputRange::Keys { root, .. } | InputRange::Video { root, .. } => root,
        }
    }
}

/// One shard's input: its range and where its rows start in the whole input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShard {
    pub range: InputRange,
    pub first_row: u64,
    pub rows: u64,
}
