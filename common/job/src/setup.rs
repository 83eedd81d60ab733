//! An evaluation setup of Table 1: zero-shot with the object unknown or
//! known, or k-shot with k normal reference images per category.
//!
//! Written in job files as `"unknown"`, `"known"` or `"<k>-shot"`; zero-shot
//! setups serialise exactly as they always have, so their shard ids do not
//! change.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ObjectSetup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setup {
    Zero(ObjectSetup),
    /// k reference images; s_pr uses the known object, plus s_img.
    FewShot(u32),
}

impl Setup {
    /// The setup's name in metric rows: `object-unknown`, `object-known`, `k-shot`.
    pub fn label(self) -> String {
        match self {
            Setup::Zero(o) => o.label().to_string(),
            Setup::FewShot(k) => format!("{k}-shot"),
        }
    }

    /// Which object word s_pr guides with.
    pub fn object(self) -> ObjectSetup {
        match self {
            Setup::Zero(o) => o,
            Setup::FewShot(_) => ObjectSetup::Known,
        }
    }

    /// k for few-shot setups.
    pub fn shots(self) -> Option<u32> {
        match self {
            Setup::Zero(_) => None,
            Setup::FewShot(k) => Some(k),
        }
    }

    pub fn parse(text: &str) -> Result<Setup, String> {
        match text {
            "unknown" => Ok(Setup::Zero(ObjectSetup::Unknown)),
            "known" => Ok(Setup::Zero(ObjectSetup::Known)),
            other => other
                .strip_suffix("-shot")
                .and_then(|k| k.parse::<u32>().ok())
                .filter(|&k| k > 0)
                .map(Setup::FewShot)
                .ok_or_else(|| format!("unknown setup {other:?}: expected \"unknown\", \"known\" or \"<k>-shot\" with k ≥ 1")),
        }
    }

    fn as_written(self) -> String {
        match self {
            Setup::Zero(ObjectSetup::Unknown) => "unknown".to_string(),
            Setup::Zero(ObjectSetup::Known) => "known".to_string(),
            Setup::FewShot(k) => format!("{k}-shot"),
        }
    }
}

impl Serialize for Setup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_written())
    }
}

impl<'de> Deserialize<'de> for Setup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Setup, D::Error> {
        let text = String::deserialize(d)?;
        Setup::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setups_round_trip_as_written() {
        for text in ["unknown", "known", "1-shot", "4-shot"] {
            let s = Setup::parse(text).unwrap();
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("{text:?}"));
        }
        assert_eq!(Setup::parse("2-shot").unwrap().label(), "2-shot");
        assert_eq!(Setup::parse("known").unwrap().label(), "object-known");
        assert!(Setup::parse("0-shot").is_err());
        assert!(Setup::parse("few").unwrap_err().contains("\"few\""));
    }
}
