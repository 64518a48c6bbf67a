//! What a gate (`wait --for`) waits for, parsed from the command line: a
//! healthy chain, or a revision that names one commit.

/// `wait --for`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// Ready, and up to date with the source's current revision.
    Healthy,
    /// Ready at this revision (a prefix, or a bare commit sha).
    Revision(String),
}

/// `healthy` or `revision=REV` (see [`wanted_revision`]).
pub fn wait_for(s: &str) -> Result<WaitFor, String> {
    match s {
        "healthy" => Ok(WaitFor::Healthy),
        other => match other.strip_prefix("revision=") {
            Some(rev) => wanted_revision(rev).map(WaitFor::Revision),
            None => Err("use healthy or revision=REVISION".into()),
        },
    }
}

/// The least of a commit id that names one commit in practice (git's short form).
const MIN_HASH: usize = 7;

/// A `--for revision=` value that names a commit: a revision as Flux writes
/// it (`main@sha1:5a7c3e1f…`, `latest@sha256:…`, `sha256:…`), with at least
/// [`MIN_HASH`] hex characters of the hash, or a bare commit sha (CI's
/// `$GITHUB_SHA`). A branch alone, or an empty `$SHA`, would match whatever
/// is there: refused.
fn wanted_revision(rev: &str) -> Result<String, String> {
    let hash = rev.rsplit_once(':').map_or(rev, |(_, h)| h);
    if hash.len() >= MIN_HASH && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(rev.to_string());
    }
    Err(format!(
        "revision={rev}: name a commit, as Flux writes revisions (main@sha1:5a7c3e1f, at least {MIN_HASH} hex characters after the colon) or as a bare commit sha (revision=$GITHUB_SHA); a branch alone or an empty variable would match whatever is applied"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--for revision=main`, `revision=main@sha1:` and `revision=m` (an empty
    /// `$SHA` in CI) passed at once on whatever was applied.
    #[test]
    fn a_wanted_revision_must_name_a_commit() {
        for ok in [
            "main@sha1:5a7c3e1f",
            "main@sha1:0ba685becb92f7e29fdb15aa036ff8c070602e87",
            "0ba685becb92f7e29fdb15aa036ff8c070602e87",
            "5a7c3e1",
            "latest@sha256:abcdef0123",
            "sha256:abcdef0123",
            "v1.2.3@sha1:5a7c3e1f",
        ] {
            assert_eq!(wanted_revision(ok), Ok(ok.to_string()));
        }
        for bad in [
            "",
            "main",
            "main@sha1:",
            "m",
            "main@sha1:5a7c",
            "main@sha1:zzzzzzzz",
        ] {
            let e = wanted_revision(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("revision={bad}: name a commit")),
                "{e}"
            );
        }
    }

    #[test]
    fn healthy_or_a_revision() {
        assert_eq!(wait_for("healthy"), Ok(WaitFor::Healthy));
        assert_eq!(
            wait_for("revision=5a7c3e1f"),
            Ok(WaitFor::Revision("5a7c3e1f".into()))
        );
        assert!(wait_for("ready").is_err());
    }
}
