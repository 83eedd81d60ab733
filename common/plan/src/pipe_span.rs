//! Where along the pipe an inspection video runs, from its manifest row:
//! `length_m` (the video starts at 0 m), or `start_m` and `end_m` (a
//! survey may run against the flow, so `end_m` may be below `start_m`).
//! Assuming a constant camera speed, as PACP and MSCC place observations,
//! a frame `t` seconds into a `T`-second video is at
//! `start_m + (end_m − start_m) · t / T`.

use serde::{Deserialize, Serialize};

pub const LENGTH_COLUMN: &str = "length_m";
pub const START_COLUMN: &str = "start_m";
pub const END_COLUMN: &str = "end_m";

/// The metres a video covers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PipeSpan {
    pub start_m: f64,
    pub end_m: f64,
}

// Spans are parsed finite numbers: equality is reflexive.
impl Eq for PipeSpan {}

impl PipeSpan {
    /// Metres at `pts_s` of a video `duration_s` long (clamped to the span).
    pub fn at(&self, pts_s: f64, duration_s: f64) -> Option<f64> {
        if !(duration_s > 0.0) || !pts_s.is_finite() {
            return None;
        }
        Some(self.start_m + (self.end_m - self.start_m) * (pts_s / duration_s).clamp(0.0, 1.0))
    }
}

/// Which columns of a manifest give spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanColumns {
    length: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
}

impl SpanColumns {
    /// From a header's column names; `start_m` needs `end_m` and neither
    /// goes with `length_m`.
    pub fn from_header<S: AsRef<str>>(names: &[S]) -> Result<SpanColumns, String> {
        let find = |name: &str| names.iter().position(|n| n.as_ref().trim() == name);
        let columns = SpanColumns { length: find(LENGTH_COLUMN), start: find(START_COLUMN), end: find(END_COLUMN) };
        match (columns.length.is_some(), columns.start.is_some(), columns.end.is_some()) {
            (_, false, false) | (false, true, true) => Ok(columns),
            (true, _, _) => Err(format!("has `{LENGTH_COLUMN}` and `{START_COLUMN}`/`{END_COLUMN}`: give one or the other")),
            _ => Err(format!("has only one of `{START_COLUMN}` and `{END_COLUMN}`: give both, or `{LENGTH_COLUMN}`")),
        }
    }

    pub fn any(&self) -> bool {
        self.length.is_some() || self.start.is_some()
    }

    /// The columns read, for a Parquet projection.
    pub fn indices(&self) -> impl Iterator<Item = usize> {
        [self.length, self.start, self.end].into_iter().flatten()
    }

    /// The span of one row whose fields `cell(i)` gives (empty cells: no
    /// span); `Err` names the column and the bad text.
    pub fn span(&self, cell: impl Fn(usize) -> Option<String>) -> Result<Option<PipeSpan>, String> {
        let number = |column: usize, name: &str| -> Result<Option<f64>, String> {
            match cell(column).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(text) => match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(format!("`{name}` is not a number of metres: {text:?}")),
                },
            }
        };
        if let Some(c) = self.length {
            return match number(c, LENGTH_COLUMN)? {
                Some(length) if length < 0.0 => Err(format!("`{LENGTH_COLUMN}` is negative: {length}")),
                length => Ok(length.map(|end_m| PipeSpan { start_m: 0.0, end_m })),
            };
        }
        match (self.start, self.end) {
            (Some(s), Some(e)) => match (number(s, START_COLUMN)?, number(e, END_COLUMN)?) {
                (Some(start_m), Some(end_m)) => Ok(Some(PipeSpan { start_m, end_m })),
                (None, None) => Ok(None),
                _ => Err(format!("has only one of `{START_COLUMN}` and `{END_COLUMN}`")),
            },
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells<'a>(values: &'a [&'a str]) -> impl Fn(usize) -> Option<String> + 'a {
        move |i| values.get(i).map(|s| s.to_string())
    }

    #[test]
    fn spans_from_length_or_start_and_end() {
        let by_length = SpanColumns::from_header(&["uri", " length_m "]).unwrap();
        assert_eq!(by_length.span(cells(&["a.mpg", "42.5"])).unwrap(), Some(PipeSpan { start_m: 0.0, end_m: 42.5 }));
        assert_eq!(by_length.span(cells(&["a.mpg", ""])).unwrap(), None);
        assert!(by_length.span(cells(&["a.mpg", "12 m"])).unwrap_err().contains("\"12 m\""));
        assert!(by_length.span(cells(&["a.mpg", "-3"])).unwrap_err().contains("negative"));
        let by_ends = SpanColumns::from_header(&["end_m", "uri", "start_m"]).unwrap();
        let against_flow = by_ends.span(cells(&["10", "a.mpg", "70"])).unwrap().unwrap();
        assert_eq!(against_flow, PipeSpan { start_m: 70.0, end_m: 10.0 });
        assert_eq!(against_flow.at(15.0, 60.0), Some(55.0));
        assert_eq!(against_flow.at(90.0, 60.0), Some(10.0), "clamped to the span");
        assert_eq!(against_flow.at(1.0, 0.0), None);
        assert!(by_ends.span(cells(&["10", "a.mpg", ""])).is_err());
        assert!(!SpanColumns::from_header(&["uri"]).unwrap().any());
        assert!(SpanColumns::from_header(&["uri", "start_m"]).is_err());
        assert!(SpanColumns::from_header(&["uri", "length_m", "start_m", "end_m"]).is_err());
    }
}
