//! Progress bars for the long stages. They draw on stderr only when it is a
//! terminal (indicatif hides itself otherwise), so logs and CI stay clean;
//! stage start/end lines are printed either way.

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:32}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template is valid")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}
