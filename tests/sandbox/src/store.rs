//! The sandbox's etcd: every object, one resourceVersion counter, a bounded
//! history of changes for watch resumption, and a broadcast of each change.
//!
//! The store has no API semantics (defaulting, generations, finalizers): those
//! live in `apiserver.rs`. Changes are broadcast while the lock is held, so a
//! watcher that subscribes under the same lock sees every change exactly once.
//! Nothing here runs unless a request or a controller calls it: idle costs no CPU.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::resources::ResourceId;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// One stored object and its JSON, serialized once when written.
#[derive(Debug)]
pub struct Stored {
    pub value: Value,
    /// The object serialized without `apiVersion` and `kind` (see [`Stored::json`]).
    body: Bytes,
}

/// Serializes an object's fields except `apiVersion` and `kind`.
struct Untyped<'a>(&'a serde_json::Map<String, Value>);

impl serde::Serialize for Untyped<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self
            .0
            .iter()
            .filter(|(k, _)| *k != "apiVersion" && *k != "kind")
        {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Stored {
    pub fn new(value: Value) -> Self {
        let empty = serde_json::Map::new();
        let body =
            serde_json::to_vec(&Untyped(value.as_object().unwrap_or(&empty))).unwrap_or_default();
        Stored {
            value,
            body: Bytes::from(body),
        }
    }

    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"].as_str().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }

    pub fn resource_version(&self) -> u64 {
        self.value["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Appends the object's JSON to `out`, with `apiVersion`/`kind` when `typed`
    /// (built-in list items carry neither; single objects and custom-resource items do).
    pub fn write_json(&self, out: &mut Vec<u8>, typed: bool) {
        if !typed {
            out.extend_from_slice(&self.body);
            return;
        }
        out.extend_from_slice(b"{\"apiVersion\":");
        out.extend_from_slice(
            serde_json::to_string(&self.value["apiVersion"])
                .unwrap_or_default()
                .as_bytes(),
        );
        out.extend_from_slice(b",\"kind\":");
        out.extend_from_slice(
            serde_json::to_string(&self.value["kind"])
                .unwrap_or_default()
                .as_bytes(),
        );
        if self.body.len() > 2 {
            out.push(b',');
        }
        out.extend_from_slice(&self.body[1..]);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One write, as watchers receive it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: ResourceId,
    pub kind: ChangeKind,
    pub object: Arc<Stored>,
    pub old: Option<Arc<Stored>>,
}

/// Changes a resumed watch must replay, and the live feed after them.
pub type Subscription = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

/// A watch could not start: history no longer reaches back to `requested`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

struct Inner {
    rv: u64,
    /// Watches may resume from any resourceVersion ≥ `floor`.
    floor: u64,
    objects: Vec<BTreeMap<Key, Arc<Stored>>>,
    history: VecDeque<Arc<Change>>,
    history_cap: usize,
    logs: HashMap<Key, String>,
}

pub struct Store {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Arc<Change>>,
    logs_version: watch::Sender<u64>,
}

/// A read-modify-write under the store's lock; changes are published on commit.
pub struct Txn<'a> {
    inner: MutexGuard<'a, Inner>,
    changes: &'a broadcast::Sender<Arc<Change>>,
}

impl Txn<'_> {
    pub fn get(&self, res: ResourceId, ns: &str, name: &str) -> Option<Arc<Stored>> {
        self.inner.objects[res]
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn list(&self, res: ResourceId, ns: Option<&str>) -> Vec<Arc<Stored>> {
        list_in(&self.inner.objects[res], ns)
    }

    pub fn resource_version(&self) -> u64 {
        self.inner.rv
    }

    /// Stores `value` under a new resourceVersion, which is written into it.
    pub fn put(&mut self, res: ResourceId, mut value: Value) -> Arc<Stored> {
        self.inner.rv += 1;
        let rv = self.inner.rv;
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let stored = Arc::new(Stored::new(value));
        let key = (stored.namespace().to_string(), stored.name().to_string());
        let old = self.inner.objects[res].insert(key, stored.clone());
        let kind = if old.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(Change {
            rv,
            resource: res,
            kind,
            object: stored.clone(),
            old,
        });
        stored
    }

    /// Removes an object; the DELETED event carries the deletion's resourceVersion.
    pub fn remove(&mut self, res: ResourceId, ns: &str, name: &str) -> Option<Arc<Stored>> {
        let old = self.inner.objects[res].remove(&(ns.to_string(), name.to_string()))?;
        self.inner.rv += 1;
        let rv = self.inner.rv;
        let mut last = old.value.clone();
        last["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let last = Arc::new(Stored::new(last));
        self.record(Change {
            rv,
            resource: res,
            kind: ChangeKind::Deleted,
            object: last.clone(),
            old: Some(old),
        });
        Some(last)
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        // No receiver is not an error: nobody is watching.
        let _ = self.changes.send(change.clone());
        let inner = &mut *self.inner;
        inner.history.push_back(change);
        while inner.history.len() > inner.history_cap {
            if let Some(dropped) = inner.history.pop_front() {
                inner.floor = dropped.rv;
            }
        }
    }
}

fn list_in(map: &BTreeMap<Key, Arc<Stored>>, ns: Option<&str>) -> Vec<Arc<Stored>> {
    match ns {
        None => map.values().cloned().collect(),
        Some(ns) => map
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

impl Store {
    pub fn new(resources: usize, history_cap: usize) -> Self {
        // A slow watcher that falls this far behind is cut and must resume (as with the apiserver's watch cache).
        let (changes, _) = broadcast::channel(16 * 1024);
        let (logs_version, _) = watch::channel(0);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                floor: 1,
                objects: (0..resources).map(|_| BTreeMap::new()).collect(),
                history: VecDeque::new(),
                history_cap: history_cap.max(1),
                logs: HashMap::new(),
            }),
            changes,
            logs_version,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn txn(&self) -> Txn<'_> {
        Txn {
            inner: self.lock(),
            changes: &self.changes,
        }
    }

    pub fn get(&self, res: ResourceId, ns: &str, name: &str) -> Option<Arc<Stored>> {
        self.txn().get(res, ns, name)
    }

    /// The objects of a resource (in one namespace, or all) and the list's resourceVersion.
    pub fn list(&self, res: ResourceId, ns: Option<&str>) -> (Vec<Arc<Stored>>, u64) {
        let inner = self.lock();
        (list_in(&inner.objects[res], ns), inner.rv)
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// The oldest resourceVersion a watch or continue token may still start from.
    pub fn floor(&self) -> u64 {
        self.lock().floor
    }

    /// Forget all history: every watch or continue from an older version gets 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.floor = inner.rv;
    }

    /// Subscribe to changes after `rv`, with the backlog history still holds.
    pub fn subscribe_from(&self, rv: u64) -> Result<Subscription, TooOld> {
        let inner = self.lock();
        if rv < inner.floor {
            return Err(TooOld {
                requested: rv,
                oldest: inner.floor + 1,
            });
        }
        let rx = self.changes.subscribe();
        let backlog = inner
            .history
            .iter()
            .filter(|c| c.rv > rv)
            .cloned()
            .collect();
        Ok((backlog, rx))
    }

    /// Subscribe and take the current objects of a resource at the same instant.
    pub fn snapshot_and_subscribe(
        &self,
        res: ResourceId,
        ns: Option<&str>,
    ) -> (Vec<Arc<Stored>>, u64, broadcast::Receiver<Arc<Change>>) {
        let inner = self.lock();
        let rx = self.changes.subscribe();
        (list_in(&inner.objects[res], ns), inner.rv, rx)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    pub fn append_log(&self, ns: &str, pod: &str, text: &str) {
        self.lock()
            .logs
            .entry((ns.to_string(), pod.to_string()))
            .or_default()
            .push_str(text);
        self.logs_version.send_modify(|v| *v += 1);
    }

    pub fn log(&self, ns: &str, pod: &str) -> Option<String> {
        self.lock()
            .logs
            .get(&(ns.to_string(), pod.to_string()))
            .cloned()
    }

    pub fn remove_log(&self, ns: &str, pod: &str) {
        self.lock().logs.remove(&(ns.to_string(), pod.to_string()));
    }

    pub fn watch_logs(&self) -> watch::Receiver<u64> {
        self.logs_version.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(ns: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn history_is_bounded_and_old_versions_expire() {
        let store = Store::new(1, 3);
        for i in 0..5 {
            store.txn().put(0, obj("a", &format!("p{i}")));
        }
        // rv 2..=6 written; history keeps 4,5,6.
        assert_eq!(store.resource_version(), 6);
        assert!(store.subscribe_from(3).is_ok());
        assert_eq!(
            store.subscribe_from(2).unwrap_err(),
            TooOld {
                requested: 2,
                oldest: 4
            }
        );
        let (backlog, _) = store.subscribe_from(4).unwrap();
        assert_eq!(backlog.iter().map(|c| c.rv).collect::<Vec<_>>(), vec![5, 6]);
        store.compact();
        assert!(store.subscribe_from(5).is_err());
        assert!(store.subscribe_from(6).is_ok());
    }

    #[test]
    fn lists_by_namespace_in_key_order() {
        let store = Store::new(1, 10);
        for (ns, n) in [("b", "x"), ("a", "z"), ("a", "y"), ("ab", "w")] {
            store.txn().put(0, obj(ns, n));
        }
        let (items, _) = store.list(0, Some("a"));
        assert_eq!(
            items.iter().map(|s| s.name()).collect::<Vec<_>>(),
            ["y", "z"]
        );
        assert_eq!(store.list(0, None).0.len(), 4);
    }

    #[test]
    fn json_with_and_without_type_fields() {
        let s = Stored::new(obj("a", "p"));
        let mut typed = vec![];
        s.write_json(&mut typed, true);
        let v: Value = serde_json::from_slice(&typed).unwrap();
        assert_eq!(v["kind"], "Pod");
        let mut item = vec![];
        s.write_json(&mut item, false);
        let v: Value = serde_json::from_slice(&item).unwrap();
        assert!(v.get("kind").is_none() && v["metadata"]["name"] == "p");
    }
}
