//! Times as people read them in reports and on figures.

/// `hh:mm:ss` of a time in seconds (rounded down).
pub fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hms_rounds_down_to_whole_seconds() {
        assert_eq!(super::hms(3725.9), "01:02:05");
        assert_eq!(super::hms(-1.0), "00:00:00");
    }
}
