//! Where narration goes: every [`Event`] a command reports, from the actions
//! and the cluster layer alike, passes through one [`Narrator`] to stderr,
//! as text lines (the default off a terminal), as JSON Lines (`--progress
//! json`), or on a terminal as the same lines with a live status line below
//! them: a spinner, how long the latest wait has lasted, and what it is for.
//! A wait's line is written for good when what it waits for changes, so the
//! terminal keeps the same history a log file gets.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::events::Event;
use crate::render::narration;

/// How narration is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One line per event.
    Text,
    /// One JSON document per event.
    Json,
    /// Text, with a live status line (a terminal `width` columns wide).
    Live { width: usize },
}

/// How often the live line redraws.
pub const TICK: Duration = Duration::from_millis(100);

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A cheap handle on the command's narration; clones share it.
#[derive(Clone)]
pub struct Narrator(Arc<Mutex<Sink>>);

struct Sink {
    out: Box<dyn Write + Send>,
    style: Style,
    /// Live: the waits not yet written for good, per stage, oldest first.
    waiting: Vec<Wait>,
    frame: usize,
    /// Live: a status line is on the screen (the cursor is at its end).
    drawn: bool,
    /// The writer failed (stderr closed): narration stops, the command goes on.
    broken: bool,
}

struct Wait {
    stage: String,
    line: String,
    since: Instant,
}

impl Narrator {
    pub fn new(out: Box<dyn Write + Send>, style: Style) -> Self {
        Narrator(Arc::new(Mutex::new(Sink {
            out,
            style,
            waiting: vec![],
            frame: 0,
            drawn: false,
            broken: false,
        })))
    }

    /// Narration nobody reads (shell completion).
    pub fn silent() -> Self {
        Narrator::new(Box::new(std::io::sink()), Style::Text)
    }

    fn sink(&self) -> MutexGuard<'_, Sink> {
        // A panic while holding the lock leaves plain data behind: use it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn style(&self) -> Style {
        self.sink().style
    }

    /// Reports one event.
    pub fn say(&self, event: Event) {
        let mut sink = self.sink();
        let result = sink.say(&event);
        sink.check(result);
    }

    /// Redraws the live status line (the spinner moves); nothing otherwise.
    pub fn tick(&self) {
        let mut sink = self.sink();
        sink.frame = sink.frame.wrapping_add(1);
        let result = sink.redraw();
        sink.check(result);
    }

    /// Writes a question as it is, on the line the answer is typed on.
    pub fn prompt(&self, question: &str) {
        let mut sink = self.sink();
        let result = sink.clear().and_then(|_| {
            write!(sink.out, "{}", crate::render::sanitize(question))?;
            sink.out.flush()
        });
        sink.check(result);
    }

    /// Ends the narration: the live line goes, the waits it showed stay as lines.
    pub fn finish(&self) {
        let mut sink = self.sink();
        let result = sink.finish();
        sink.check(result);
    }
}

impl Sink {
    fn check(&mut self, result: std::io::Result<()>) {
        if result.is_err() {
            self.broken = true;
        }
    }

    /// Writes `text` and a newline in one call: stderr is unbuffered, and
    /// `writeln!` is a write for each piece (30,000 of them for the 15,000
    /// stages `wait --all -A` reports at 5,000 apps).
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }

    fn write_lines(&mut self, event: &Event) -> std::io::Result<()> {
        let mut text = String::new();
        for line in narration::lines(event) {
            text.push_str(&line);
            text.push('\n');
        }
        self.out.write_all(text.as_bytes())
    }

    fn say(&mut self, event: &Event) -> std::io::Result<()> {
        if self.broken {
            return Ok(());
        }
        match self.style {
            Style::Json => {
                let line = serde_json::to_string(event).map_err(std::io::Error::other)?;
                self.line(&line)?;
            }
            Style::Text => self.write_lines(event)?,
            Style::Live { .. } => {
                self.clear()?;
                match event {
                    Event::Waiting { stage, .. } => {
                        let line = narration::lines(event).concat();
                        match self.waiting.iter().position(|w| &w.stage == stage) {
                            Some(i) if self.waiting[i].line == line => {}
                            Some(i) => {
                                let old = self.waiting.remove(i);
                                self.line(&old.line)?;
                                self.waiting.push(Wait {
                                    stage: stage.clone(),
                                    line,
                                    since: Instant::now(),
                                });
                            }
                            None => self.waiting.push(Wait {
                                stage: stage.clone(),
                                line,
                                since: Instant::now(),
                            }),
                        }
                    }
                    _ => {
                        if let Some(stage) = event.stage()
                            && let Some(i) = self.waiting.iter().position(|w| w.stage == stage)
                        {
                            let old = self.waiting.remove(i);
                            self.line(&old.line)?;
                        }
                        self.write_lines(event)?;
                    }
                }
                self.redraw()?;
            }
        }
        self.out.flush()
    }

    fn clear(&mut self) -> std::io::Result<()> {
        if self.drawn {
            write!(self.out, "\r\x1b[2K")?;
            self.drawn = false;
        }
        Ok(())
    }

    fn redraw(&mut self) -> std::io::Result<()> {
        let Style::Live { width } = self.style else {
            return Ok(());
        };
        if self.broken {
            return Ok(());
        }
        self.clear()?;
        let Some(latest) = self.waiting.last() else {
            return self.out.flush();
        };
        let elapsed = crate::render::human_duration(
            jiff::SignedDuration::try_from(latest.since.elapsed()).unwrap_or_default(),
        );
        let more = match self.waiting.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        // The line must not wrap, or the next redraw cannot take it back.
        let text: String = format!(
            "{} {elapsed:>4} {}{more}",
            SPINNER[self.frame % SPINNER.len()],
            latest.line.trim_start_matches("◎ ")
        )
        .chars()
        .take(width.saturating_sub(1).max(10))
        .collect();
        write!(self.out, "{text}")?;
        self.drawn = true;
        self.out.flush()
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Ok(());
        }
        self.clear()?;
        for wait in std::mem::take(&mut self.waiting) {
            self.line(&wait.line)?;
        }
        self.out.flush()
    }
}

/// Log records (`tracing`, from jobgate and the libraries it uses: kube's
/// watcher warnings among them) said as [`Event::Log`], so they share the
/// narration's one way to stderr (and its JSON form) instead of a second one.
pub struct Logs {
    narrator: Narrator,
}

/// The records `-v` shows: jobgate's debug and everyone's warnings; `-vv`
/// adds kube's debug, `-vvv` everyone's (tower, hyper...).
pub fn logs(
    narrator: &Narrator,
    verbosity: u8,
) -> impl tracing_subscriber::Layer<tracing_subscriber::Registry> {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(match verbosity {
            0 => LevelFilter::OFF,
            1 | 2 => LevelFilter::WARN,
            _ => LevelFilter::DEBUG,
        })
        .with_target(
            "kube",
            if verbosity > 1 {
                LevelFilter::DEBUG
            } else {
                LevelFilter::WARN
            },
        )
        .with_target(
            "kubectl_jobgate",
            if verbosity > 0 {
                LevelFilter::DEBUG
            } else {
                LevelFilter::OFF
            },
        );
    Logs {
        narrator: narrator.clone(),
    }
    .with_filter(filter)
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logs {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.record_debug(field, &format_args!("{value}"));
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                let sep = if self.0.is_empty() { "" } else { " " };
                if field.name() == "message" {
                    self.0 = format!("{:?}{sep}{}", value, self.0);
                } else {
                    self.0.push_str(&format!("{sep}{}={value:?}", field.name()));
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let meta = event.metadata();
        let target = match meta.target() {
            t if t.starts_with("kubectl_jobgate") => "jobgate",
            t => t,
        };
        self.narrator.say(Event::Log {
            level: meta.level().to_string().to_lowercase(),
            target: target.to_string(),
            message: message.0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StageState;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn text(out: &Shared) -> String {
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    fn waiting(why: &str) -> Event {
        Event::Waiting {
            stage: "apps/pre".into(),
            state: StageState::Progressing,
            why: crate::model::progress::Waiting::Flux {
                message: why.into(),
            },
        }
    }

    /// Once the live line is taken away, a terminal holds the lines a log
    /// file would: each wait written for good when it changed or ended.
    #[test]
    fn the_live_line_collapses_into_the_lines_text_would_write() {
        let events = [
            Event::Requested {
                stage: "apps/pre".into(),
            },
            waiting("Running health checks"),
            waiting("still running"),
            Event::StageReady {
                stage: "apps/pre".into(),
                revision: "main@sha1:5a7c3e1f9d".into(),
            },
        ];
        let (live, plain) = (Shared::default(), Shared::default());
        let l = Narrator::new(Box::new(live.clone()), Style::Live { width: 80 });
        let t = Narrator::new(Box::new(plain.clone()), Style::Text);
        for e in &events {
            l.say(e.clone());
            l.tick();
            t.say(e.clone());
        }
        l.finish();
        let shown = text(&live);
        assert!(shown.contains("\r\x1b[2K"), "{shown:?}");
        assert!(shown.contains('⠙'), "the spinner moved: {shown:?}");
        // What stays: strip each status line up to the clear that removed it.
        let mut kept = String::new();
        for part in shown.split("\r\x1b[2K") {
            if let Some(i) = part.rfind('\n') {
                kept.push_str(&part[..=i]);
            }
        }
        assert_eq!(kept, text(&plain));
        assert_eq!(
            text(&plain),
            "► apps/pre: reconcile requested\n\
             ◎ apps/pre: Progressing: Running health checks\n\
             ◎ apps/pre: Progressing: still running\n\
             ✔ apps/pre: ready at main@sha1:5a7c3e1f\n"
        );
    }

    #[test]
    fn json_progress_is_one_document_per_event() {
        let out = Shared::default();
        let n = Narrator::new(Box::new(out.clone()), Style::Json);
        n.say(waiting("Running health checks"));
        n.say(Event::Exit { code: 0 });
        let lines: Vec<serde_json::Value> = text(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({"event": "waiting", "stage": "apps/pre", "state": "progressing", "why": {"for": "flux", "message": "Running health checks"}}),
                serde_json::json!({"event": "exit", "code": 0}),
            ]
        );
    }
}
