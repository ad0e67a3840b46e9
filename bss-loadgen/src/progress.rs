//! The progress bar on stderr while the load runs: elapsed over planned
//! time, the offered and achieved rate of the last second, append p95.
//! Reads the recorder; never writes to it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Recorder;

const TICK: Duration = Duration::from_millis(250);

/// Starts the bar; abort the returned task (and call `finish`) to end it.
pub fn spawn(
    recorder: Arc<Recorder>,
    start: Instant,
    planned: Duration,
    hidden: bool,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(
            Some(planned.as_millis() as u64),
            ProgressDrawTarget::stderr(),
        )
    };
    let style = ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tick.tick().await;
            let elapsed = start.elapsed();
            let p = recorder.progress(elapsed.as_secs_f64());
            b.set_position((elapsed.as_millis() as u64).min(planned.as_millis() as u64));
            let phase = if elapsed > planned { " draining" } else { "" };
            b.set_message(format!(
                "{:.1}s/{:.1}s{phase}  offered {}/s  achieved {}/s  p95 {}  acked {}  failed {}",
                elapsed.as_secs_f64(),
                planned.as_secs_f64(),
                p.offered_rate,
                p.achieved_rate,
                p.p95_ms.map_or("-".to_string(), |v| format!("{v:.1}ms")),
                p.acknowledged,
                p.failed
            ));
        }
    });
    (bar, task)
}
