//! `-o mermaid`: a flowchart GitHub renders, one subgraph per chain, arrows
//! from a dependency to its dependents, stages coloured by state.

use super::sanitize;
use crate::report::{ChainReport, StageState};

fn id(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn escape(s: &str) -> String {
    sanitize(s)
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn class(state: StageState) -> &'static str {
    match state {
        StageState::Failed | StageState::Missing | StageState::Unreadable => "failed",
        StageState::Blocked
        | StageState::Progressing
        | StageState::NeverReconciled
        | StageState::Suspended
        | StageState::Unknown => "waiting",
        StageState::Ready | StageState::UpToDate => "ok",
    }
}

/// The report as a Mermaid flowchart.
pub fn render(report: &ChainReport) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, chain) in report.chains.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph chain{i}[\"{}\"]\n",
            escape(&chain.name)
        ));
        for s in &chain.stages {
            let jobs: Vec<String> = s
                .jobs
                .iter()
                .map(|j| format!("job/{} {}", j.name, j.phase.as_str()))
                .collect();
            let mut text = format!(
                "{}<br/>{} · {}",
                escape(&s.key()),
                super::role(s),
                s.state.as_str()
            );
            for j in jobs {
                text.push_str(&format!("<br/>{}", escape(&j)));
            }
            out.push_str(&format!(
                "    {}[\"{text}\"]:::{}\n",
                id(&s.key()),
                class(s.state)
            ));
        }
        out.push_str("  end\n");
        for s in &chain.stages {
            for d in &s.depends_on {
                out.push_str(&format!(
                    "  {} --> {}\n",
                    id(&format!("{}/{}", d.namespace, d.name)),
                    id(&s.key())
                ));
            }
        }
    }
    out.push_str("  classDef failed fill:#f8d7da,stroke:#c62828,color:#000\n");
    out.push_str("  classDef waiting fill:#fff3cd,stroke:#f9a825,color:#000\n");
    out.push_str("  classDef ok fill:#d4edda,stroke:#2e7d32,color:#000\n");
    out
}
