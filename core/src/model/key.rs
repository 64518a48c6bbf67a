//! Names of objects as types: a Kustomization or Job is a [`Key`]
//! (`namespace/name`), a source a [`SourceKey`] (`Kind/namespace/name`).

use std::fmt;

pub use crate::report::Text;

/// A namespaced object's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub namespace: Text,
    pub name: Text,
}

impl Key {
    pub fn new(namespace: impl Into<Text>, name: impl Into<Text>) -> Key {
        Key {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// `namespace/name`, as kubectl and flux write it.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A Flux source: its kind and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceKey {
    pub kind: Text,
    pub key: Key,
}

/// `Kind/namespace/name`.
impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.key)
    }
}

/// A Job a rerun deleted, which must come back as a new run (a new uid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedJob {
    pub key: Key,
    pub uid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_kubectl_writes_them_and_sort_by_namespace() {
        let mut keys = [Key::new("b", "a"), Key::new("a", "z")];
        keys.sort();
        assert_eq!(keys[0].to_string(), "a/z");
        let source = SourceKey {
            kind: "GitRepository".into(),
            key: Key::new("flux-system", "apps"),
        };
        assert_eq!(source.to_string(), "GitRepository/flux-system/apps");
    }
}
