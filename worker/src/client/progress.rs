//! Live progress of a job, one bar per stage (text, image, trial,
//! aggregate: committed / total, running). On a terminal the bars redraw in
//! place; otherwise (logs, CI) a plain line is printed whenever a stage
//! commits or fails a shard, so the log shows progress without noise.

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rwclip_proto::v1::JobStatus;

use super::stage::stage_name;

/// Shared (`&self`) so the job watcher and the worker monitor can both
/// report through it.
pub struct StageProgress {
    /// `None` when stderr is not a terminal.
    bars: Option<RefCell<Bars>>,
    /// The last plain line printed, so unchanged snapshots print nothing.
    last_line: RefCell<String>,
}

struct Bars {
    multi: MultiProgress,
    /// (shard kind, its bar), in pipeline order.
    stages: Vec<(i32, ProgressBar)>,
}

impl Default for StageProgress {
    fn default() -> Self {
        StageProgress::new()
    }
}

impl StageProgress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> StageProgress {
        let bars = std::io::stderr().is_terminal().then(|| {
            RefCell::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                stages: Vec::new(),
            })
        });
        StageProgress { bars, last_line: RefCell::new(String::new()) }
    }

    /// Shows one snapshot of the job.
    pub fn update(&self, status: &JobStatus) {
        match &self.bars {
            Some(bars) => bars.borrow_mut().update(status),
            None => {
                if status.stages.is_empty() {
                    return;
                }
                // Items done change constantly: a line prints when shards
                // commit or fail, and then says how many items are done.
                let mut key = plain_line(status);
                if !status.store.is_empty() {
                    key.push_str(&format!("; {}", status.store.split(", the oldest").next().unwrap_or("")));
                }
                let mut last = self.last_line.borrow_mut();
                if key != *last {
                    eprintln!("rwclip: {key}{}", items_line(status));
                    *last = key;
                }
            }
        }
    }

    /// Leaves the bars drawn as they are (final counts stay visible).
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            for (_, bar) in &bars.borrow().stages {
                bar.finish();
            }
        }
    }

    /// Prints a line without tearing the bars.
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.borrow().multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

impl Bars {
    fn update(&mut self, status: &JobStatus) {
        for stage in &status.stages {
            let bar = match self.stages.iter().find(|(kind, _)| *kind == stage.kind) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let bar = self.multi.add(stage_bar(stage_name(stage.kind)));
                    self.stages.push((stage.kind, bar.clone()));
                    bar
                }
            };
            bar.set_length(u64::from(stage.total));
            bar.set_position(u64::from(stage.committed));
            bar.set_message(format!("{}{}", detail(stage.running, stage.failed), items(stage)));
        }
    }
}

/// " — 1234 images and frames scored" for a scoring job's score stage.
fn items(stage: &rwclip_proto::v1::StageProgress) -> String {
    match (stage_name(stage.kind), stage.items_done) {
        ("score", n) if n > 0 => format!(" — {n} images and frames scored"),
        _ => String::new(),
    }
}

fn items_line(status: &JobStatus) -> String {
    status.stages.iter().map(items).collect()
}

fn stage_bar(name: &str) -> ProgressBar {
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:32}] {pos}/{len} {msg}")
            .expect("static template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

fn detail(running: u32, failed: u32) -> String {
    match (running, failed) {
        (0, 0) => String::new(),
        (r, 0) => format!("({r} running)"),
        (r, f) => format!("({r} running, {f} FAILED)"),
    }
}

/// "progress: text 3/5, image 2/2 (1 running), trial 0/20, aggregate 0/1";
/// running counts change constantly, so only committed and failed counts
/// are in the line that decides whether to print.
fn plain_line(status: &JobStatus) -> String {
    let stages: Vec<String> = status
        .stages
        .iter()
        .map(|s| {
            let failed = if s.failed > 0 { format!(" ({} FAILED)", s.failed) } else { String::new() };
            format!("{} {}/{}{failed}", stage_name(s.kind), s.committed, s.total)
        })
        .collect();
    format!("progress: {}", stages.join(", "))
}
