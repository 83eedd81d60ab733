//! Per-video results of a scoring job: frames scored, errors, the highest
//! score and when, and the top moments (peaks of the score over time), read
//! from the rows in one pass holding one video's scores at a time.

use rwclip_artifacts::{ImageScoreRow, VideoMoment, VideoRow};

/// Top moments kept per video.
pub const MOMENTS_PER_VIDEO: usize = 5;
/// Two moments of one video are at least this far apart: a defect seen
/// for several seconds is one moment.
pub const MOMENT_GAP_S: f64 = 10.0;
/// Videos listed in `summary.json` (all of them are in `videos.parquet`).
pub const SUMMARY_VIDEOS: usize = 100;

/// Rows in input order → one summary per video. A video's rows are
/// contiguous (a shard expands a video where it stands).
#[derive(Debug, Default)]
pub struct VideoTables {
    current: Option<(VideoRow, Vec<VideoMoment>)>,
    done: Vec<VideoRow>,
}

impl VideoTables {
    /// Takes one row; true when the row starts an input row of its own (a
    /// still, or a video's first row), which is what the plan counted.
    pub fn offer(&mut self, r: &ImageScoreRow) -> bool {
        let Some(at) = r.at else {
            self.close();
            return true;
        };
        let starts = self.current.as_ref().is_none_or(|(v, _)| v.uri != r.uri);
        if starts {
            self.close();
            let summary = VideoRow { uri: r.uri.clone(), frames_scored: 0, errors: 0, error: None, max_score: None, max_at_s: None, moments: Vec::new() };
            self.current = Some((summary, Vec::new()));
        }
        let (v, series) = self.current.as_mut().expect("opened above");
        match r.score {
            Some(score) => {
                v.frames_scored += 1;
                if v.max_score.is_none_or(|m| score > m) {
                    v.max_score = Some(score);
                    v.max_at_s = Some(at.pts_s);
                }
                series.push(VideoMoment { at_s: at.pts_s, frame: at.frame, score, distance_m: at.distance_m });
            }
            None => {
                v.errors += 1;
                if v.error.is_none() {
                    v.error = r.error.clone();
                }
            }
        }
        starts
    }

    fn close(&mut self) {
        if let Some((mut v, series)) = self.current.take() {
            v.moments = peaks(&series, MOMENTS_PER_VIDEO, MOMENT_GAP_S);
            self.done.push(v);
        }
    }

    /// Every video, in input order.
    pub fn finish(mut self) -> Vec<VideoRow> {
        self.close();
        self.done
    }
}

/// Up to `k` moments, highest score first, each at least `gap_s` from
/// every higher one (ties: the earlier).
pub fn peaks(series: &[VideoMoment], k: usize, gap_s: f64) -> Vec<VideoMoment> {
    let mut order: Vec<&VideoMoment> = series.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.at_s.total_cmp(&b.at_s)));
    let mut chosen: Vec<VideoMoment> = Vec::new();
    for m in order {
        if chosen.len() == k {
            break;
        }
        if chosen.iter().all(|c| (c.at_s - m.at_s).abs() >= gap_s) {
            chosen.push(m.clone());
        }
    }
    chosen
}

pub use rwclip_core::time::hms;

#[cfg(test)]
mod tests {
    use super::*;
    use rwclip_artifacts::FrameAt;

    fn frame(uri: &str, t: f64, score: Option<f64>) -> ImageScoreRow {
        let at = Some(FrameAt { frame: score.map(|_| (t * 25.0) as u64), pts_s: t, target_s: None, distance_m: None });
        match score {
            Some(s) => ImageScoreRow { uri: uri.into(), score: Some(s), s_fnn: Some(s), s_pr: Some(0.0), error: None, map: None, at },
            None => ImageScoreRow::failed(uri, "truncated at 3.0 s of 9.0 s".into(), at),
        }
    }

    #[test]
    fn rows_become_one_summary_per_video_and_count_input_rows() {
        let still = ImageScoreRow::failed("a.jpg", "missing".into(), None);
        let rows = vec![
            still.clone(),
            frame("v1.mpg", 0.0, Some(0.1)),
            frame("v1.mpg", 1.0, Some(0.9)),
            frame("v1.mpg", 2.0, Some(0.8)),
            frame("v1.mpg", 3.0, None),
            frame("v2.mp4", 0.0, None),
            still,
        ];
        let mut t = VideoTables::default();
        let inputs = rows.iter().filter(|r| t.offer(r)).count();
        assert_eq!(inputs, 4);
        let v = t.finish();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].frames_scored, v[0].errors, v[0].max_score, v[0].max_at_s), (3, 1, Some(0.9), Some(1.0)));
        assert_eq!(v[0].error.as_deref(), Some("truncated at 3.0 s of 9.0 s"));
        // 0.8 at 2 s is within the gap of the 0.9 peak: one moment there.
        assert_eq!(v[0].moments.iter().map(|m| m.at_s).collect::<Vec<_>>(), vec![1.0]);
        assert_eq!((v[1].frames_scored, v[1].errors, v[1].max_score), (0, 1, None));
    }

    #[test]
    fn peaks_are_apart_and_best_first() {
        let series: Vec<VideoMoment> = [(0.0, 0.2), (5.0, 0.9), (12.0, 0.3), (16.0, 0.95), (40.0, 0.5), (41.0, 0.5)].iter().map(|&(t, s)| VideoMoment { at_s: t, frame: None, score: s, distance_m: None }).collect();
        let p = peaks(&series, 3, 10.0);
        assert_eq!(p.iter().map(|m| m.at_s).collect::<Vec<_>>(), vec![16.0, 5.0, 40.0]);
        assert_eq!(hms(3725.9), "01:02:05");
    }
}
