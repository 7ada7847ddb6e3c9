//! Progress of a rollout on standard error: one `indicatif` bar per target on a TTY, plain
//! lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
pub struct Progress {
    bars: Option<MultiProgress>,
}

/// The progress of one target in one wave.
pub struct TargetProgress {
    target: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Bars when standard error is a terminal, plain lines otherwise.
    pub fn for_stderr() -> Self {
        let bars = std::io::stderr().is_terminal().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self { bars }
    }

    /// Prints a line above the bars.
    pub fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => errln!("{text}"),
        }
    }

    /// Adds a target whose bar counts milliseconds of the observation window.
    pub fn target(&self, wave: usize, target: &str, window: Duration) -> TargetProgress {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new(u64::try_from(window.as_millis()).unwrap_or(u64::MAX)));
            let style = ProgressStyle::with_template("wave {prefix} {bar:30} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(format!("{wave} {target}"));
            bar
        });
        TargetProgress { target: target.to_owned(), bar }
    }
}

impl TargetProgress {
    /// Shows a step such as "pushing" or "rolled back".
    pub fn step(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None => errln!("  {}: {text}", self.target),
        }
    }

    /// Moves the bar to `elapsed` of the window; plain output prints nothing, so that logs get
    /// no line per poll.
    pub fn observed(&self, elapsed: Duration, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
            bar.set_message(text.to_owned());
        }
    }

    /// Ends the bar with a final message, or prints it as a line.
    pub fn finish(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(text.to_owned()),
            None => errln!("  {}: {text}", self.target),
        }
    }
}
