//! Reading a metric row's config name back into its setup and sweep grid
//! point. Trial configs are `<setup>` for a one-point job and
//! `<setup> Np=<n> "<normal>"/"<anomaly>"` for a sweep (the planner's
//! `plan::config_label` after the setup label), followed by ` multi-crop`
//! for grid points scored with test-time multi-crop.

/// A sweep grid point: Np and the guiding word pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GridPoint {
    pub np: u64,
    pub normal: String,
    pub anomaly: String,
    pub multi_crop: bool,
}

/// A config name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigName<'a> {
    /// The object setup label (`object-unknown`, `object-known`).
    pub setup: &'a str,
    /// Everything after the setup ("" for a one-point job).
    pub point_label: &'a str,
    /// The parsed grid point, when the label has the planner's form.
    pub point: Option<GridPoint>,
}

/// Splits `config` at its first space; setup labels have none.
pub fn parse_config(config: &str) -> ConfigName<'_> {
    let (setup, point_label) = config.split_once(' ').unwrap_or((config, ""));
    ConfigName {
        setup,
        point_label,
        point: parse_point(point_label),
    }
}

fn parse_point(label: &str) -> Option<GridPoint> {
    let suffix = format!(" {}", rwclip_plan::MULTI_CROP_LABEL);
    let (label, multi_crop) = match label.strip_suffix(&suffix) {
        Some(rest) => (rest, true),
        None => (label, false),
    };
    let (np, words) = label.strip_prefix("Np=")?.split_once(' ')?;
    let words = words.strip_prefix('"')?.strip_suffix('"')?;
    let (normal, anomaly) = words.split_once("\"/\"")?;
    Some(GridPoint {
        np: np.parse().ok()?,
        normal: normal.to_string(),
        anomaly: anomaly.to_string(),
        multi_crop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rwclip_job::WordPair;
    use rwclip_plan::config_label;

    #[test]
    fn reads_back_what_the_planner_writes() {
        let w = WordPair { normal: "a flawless".into(), anomaly: "an anomalous".into() };
        let config = format!("object-unknown {}", config_label(10000, &w));
        let c = parse_config(&config);
        assert_eq!(c.setup, "object-unknown");
        assert_eq!(
            c.point,
            Some(GridPoint { np: 10000, normal: "a flawless".into(), anomaly: "an anomalous".into(), multi_crop: false })
        );
        let multi_config = format!("{config} {}", rwclip_plan::MULTI_CROP_LABEL);
        let multi = parse_config(&multi_config);
        assert_eq!(multi.point.map(|p| (p.np, p.multi_crop)), Some((10000, true)));
    }

    #[test]
    fn one_point_jobs_have_no_grid_point() {
        let c = parse_config("object-known");
        assert_eq!((c.setup, c.point_label, c.point), ("object-known", "", None));
    }
}
