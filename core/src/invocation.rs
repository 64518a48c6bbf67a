//! The command the user typed to run jobgate: `kubectl jobgate` (krew, or
//! `kubectl-jobgate` on the PATH) or `flux jobgate` (Flux's plugin catalog
//! installs the same binary as `flux-jobgate`). Usage lines, examples and
//! the hints that name a command to run next say it as it was typed. Set
//! once by the binary, from its own name, before anything is said.

use std::sync::OnceLock;

/// How jobgate was invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Kubectl,
    Flux,
}

static INVOKED_AS: OnceLock<Invocation> = OnceLock::new();

impl Invocation {
    /// From the program's path (`argv[0]`): `flux-jobgate` (`.exe` on
    /// Windows) is Flux's plugin; any other name is kubectl's.
    pub fn from_program(path: &str) -> Invocation {
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let stem = file.strip_suffix(".exe").unwrap_or(file);
        if stem == "flux-jobgate" {
            Invocation::Flux
        } else {
            Invocation::Kubectl
        }
    }

    /// The command as the user types it.
    pub fn command(self) -> &'static str {
        match self {
            Invocation::Kubectl => "kubectl jobgate",
            Invocation::Flux => "flux jobgate",
        }
    }

    /// The binary's own name, as a shell runs it directly: `kubectl-jobgate`
    /// or `flux-jobgate` (what a completion script completes).
    pub fn program(self) -> &'static str {
        match self {
            Invocation::Kubectl => "kubectl-jobgate",
            Invocation::Flux => "flux-jobgate",
        }
    }

    /// Says text written for `kubectl jobgate` (help, examples) as invoked.
    pub fn retell(self, text: &str) -> String {
        text.replace("kubectl jobgate", self.command())
    }
}

/// Records how jobgate was invoked; the first call wins.
pub fn set(invocation: Invocation) {
    let _ = INVOKED_AS.set(invocation);
}

/// How jobgate was invoked (`kubectl jobgate` until [`set`] says otherwise).
pub fn get() -> Invocation {
    INVOKED_AS.get().copied().unwrap_or(Invocation::Kubectl)
}

/// The command as the user typed it: `kubectl jobgate` or `flux jobgate`.
pub fn command() -> &'static str {
    get().command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flux_plugin_is_known_by_its_file_name() {
        for (path, want) in [
            ("flux-jobgate", Invocation::Flux),
            ("/home/u/.fluxcd/plugins/flux-jobgate", Invocation::Flux),
            (
                r"C:\Users\u\.fluxcd\plugins\flux-jobgate.exe",
                Invocation::Flux,
            ),
            ("kubectl-jobgate", Invocation::Kubectl),
            ("/usr/local/bin/kubectl-jobgate", Invocation::Kubectl),
            ("target/debug/deps/cli-1234", Invocation::Kubectl),
            ("flux-jobgate-old", Invocation::Kubectl),
        ] {
            assert_eq!(Invocation::from_program(path), want, "{path}");
        }
        assert_eq!(
            Invocation::Flux.retell("Usage: kubectl jobgate status\n  kubectl jobgate wait"),
            "Usage: flux jobgate status\n  flux jobgate wait"
        );
    }
}
