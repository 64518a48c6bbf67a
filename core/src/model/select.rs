//! Which stages a command is about: the chains of the named Kustomizations
//! (or all in scope), and the one Kustomization a single-stage verb acts on.
//! Shared by every verb, so none reaches into another's module.

use super::chains::{Selection, suggest};
use super::flux::{Kustomization, Snapshot};
use super::key::Key;

/// A Kustomization name that matched nothing, with the closest existing ones.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownName {
    pub namespace: Option<String>,
    pub name: String,
    pub suggestions: Vec<String>,
}

/// Why a single-stage verb cannot act on the stage it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum Unselectable {
    Unknown(Vec<UnknownName>),
    /// Flux will not reconcile it until it is resumed.
    Suspended {
        namespace: String,
        name: String,
    },
    /// It exists, but does not decode: nothing can be decided about it.
    Unreadable {
        namespace: String,
        name: String,
        error: String,
    },
}

/// The chains to show: those in `namespace` (`None`: all), or those containing
/// the named Kustomizations; a name that matches nothing is an error with
/// suggestions.
pub fn select(
    snapshot: &Snapshot,
    namespace: Option<&str>,
    names: &[String],
) -> Result<Selection, Vec<UnknownName>> {
    let in_scope = |ns: &str| namespace.is_none_or(|n| n == ns);
    let mut pairs = vec![];
    let mut unknown = vec![];
    for name in names {
        let found: Vec<Key> = snapshot
            .kustomizations()
            .iter()
            .map(|k| (&k.metadata.namespace, &k.metadata.name))
            // One that exists but does not decode is found too (and shown Unreadable).
            .chain(
                snapshot
                    .undecodable_kustomizations
                    .iter()
                    .map(|u| (&u.namespace, &u.name)),
            )
            .filter(|(ns, n)| *n == name && in_scope(ns))
            .map(|(ns, n)| Key::new(ns.clone(), n.clone()))
            .collect();
        if found.is_empty() {
            let candidates = snapshot
                .kustomizations()
                .iter()
                .filter(|k| in_scope(&k.metadata.namespace))
                .map(|k| k.metadata.name.as_str());
            unknown.push(UnknownName {
                namespace: namespace.map(String::from),
                name: name.clone(),
                suggestions: suggest(name, candidates),
            });
        }
        pairs.extend(found);
    }
    if !unknown.is_empty() {
        return Err(unknown);
    }
    Ok(Selection {
        namespaces: namespace.map(|n| vec![n.to_string()]),
        names: pairs,
    })
}

/// The Kustomization `ns/name`, suspended or not (verbs that only read).
pub fn find<'a>(
    snap: &'a Snapshot,
    ns: &str,
    name: &str,
) -> Result<&'a Kustomization, Unselectable> {
    if let Some(ks) = snap.kustomization(ns, name) {
        return Ok(ks);
    }
    if let Some(u) = snap.undecodable(ns, name) {
        return Err(Unselectable::Unreadable {
            namespace: ns.to_string(),
            name: name.to_string(),
            error: u.error.clone(),
        });
    }
    let unknown = select(snap, Some(ns), &[name.to_string()])
        .err()
        .unwrap_or_else(|| {
            vec![UnknownName {
                namespace: Some(ns.to_string()),
                name: name.to_string(),
                suggestions: vec![],
            }]
        });
    Err(Unselectable::Unknown(unknown))
}

/// The Kustomization `ns/name`, not suspended.
pub fn find_active<'a>(
    snap: &'a Snapshot,
    ns: &str,
    name: &str,
) -> Result<&'a Kustomization, Unselectable> {
    let ks = find(snap, ns, name)?;
    if ks.spec.suspend {
        return Err(Unselectable::Suspended {
            namespace: ns.to_string(),
            name: name.to_string(),
        });
    }
    Ok(ks)
}
