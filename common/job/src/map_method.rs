//! The anomaly-map methods: how an image's map and score are made.

use std::fmt;
use std::str::FromStr;

/// WinCLIP's window scales, in patches per side: every map method cuts
/// windows of k×k patches at stride 1 for each k.
pub const WINDOW_SCALES: [i64; 2] = [2, 3];

/// Written and read as its name (`"clip+ours"`), in job files and shard specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MapMethod {
    /// WinCLIP (anomalib's model): prompt ensemble, windows, few-shot memory.
    WinClip,
    /// The trial's FNN on window embeddings.
    Ours,
    /// The two guide prompts' score on window embeddings.
    Clip,
    /// `clip` + `ours`, as at image level.
    ClipPlusOurs,
}

impl MapMethod {
    pub const ALL: [MapMethod; 4] = [MapMethod::WinClip, MapMethod::Ours, MapMethod::Clip, MapMethod::ClipPlusOurs];

    pub fn name(self) -> &'static str {
        match self {
            MapMethod::WinClip => "winclip",
            MapMethod::Ours => "ours",
            MapMethod::Clip => "clip",
            MapMethod::ClipPlusOurs => "clip+ours",
        }
    }

    /// The method as the result tables name it.
    pub fn table_label(self) -> &'static str {
        match self {
            MapMethod::WinClip => "WinCLIP",
            MapMethod::Ours => "Ours",
            MapMethod::Clip => "CLIP",
            MapMethod::ClipPlusOurs => "CLIP + ours",
        }
    }

    /// Whether the method scores with a trained FNN and its guide words.
    pub fn needs_detector(self) -> bool {
        self != MapMethod::WinClip
    }
}

impl fmt::Display for MapMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for MapMethod {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<MapMethod> for String {
    fn from(m: MapMethod) -> String {
        m.name().to_string()
    }
}

impl FromStr for MapMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MapMethod::ALL
            .into_iter()
            .find(|m| m.name() == s.trim())
            .ok_or_else(|| format!("unknown map method {s:?}: expected one of winclip, ours, clip, clip+ours"))
    }
}
