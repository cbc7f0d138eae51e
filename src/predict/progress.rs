//! What a run tells the user on stderr: a progress bar (rows, rows/s, ETA; `indicatif`)
//! when stderr is a terminal, a one-line summary otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The run's reporting.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    summary: bool,
    label: String,
}

impl Progress {
    /// Reporting for a run of `total` units (input bytes, or rows for Parquet) when known.
    /// `label` names the input (and shard) in the summary.
    pub fn new(total: Option<u64>, unit_is_rows: bool, quiet: bool, label: String) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (terminal && !quiet).then(|| {
            let bar = match total {
                Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let position = if unit_is_rows {
                "{pos}/{len} rows"
            } else {
                "{bytes}/{total_bytes}"
            };
            let template = if total.is_some() {
                format!("{{wide_bar}} {position} {{msg}} ETA {{eta}}")
            } else {
                "{spinner} {msg} {elapsed}".to_string()
            };
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            summary: !terminal && !quiet,
            label,
        }
    }

    /// Records that the input up to `mark` is written: `rows` rows, `failed` of them errors.
    pub fn advance(&self, mark: u64, rows: u64, failed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(mark);
            bar.set_message(self.counts(rows, failed));
        }
    }

    fn counts(&self, rows: u64, failed: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let errors = if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        };
        format!("{rows} rows{errors}, {:.0} rows/s", rows as f64 / secs)
    }

    /// Ends the bar, or prints the summary line.
    pub fn done(&self, rows: u64, failed: u64) {
        let line = format!(
            "mlflow-serve: scored {} in {:.2} s ({})",
            self.label,
            self.started.elapsed().as_secs_f64(),
            self.counts(rows, failed)
        );
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            eprintln!("{line}");
        } else if self.summary {
            eprintln!("{line}");
        }
    }
}
