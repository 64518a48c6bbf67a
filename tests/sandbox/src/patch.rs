//! Patches and field ownership: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902), and a simplified server-side apply that tracks which field
//! manager owns which leaf field in `metadata.managedFields`.
//!
//! Simplification (documented in the README): lists are atomic — a list is one
//! field, owned as a whole — where the real apiserver merges keyed lists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// A path to a leaf field, e.g. `["spec", "template"]`.
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// A strategic merge patch applied as a merge patch: its `$`-directives
/// (`$patch`, `$setElementOrder/...`, `$retainKeys`) are dropped, lists replace.
pub fn strip_directives(patch: &Value) -> Value {
    match patch {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch; the error text follows the apiserver's.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let patch: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &patch).map_err(|e| e.to_string())
}

/// Fields never owned by a manager.
fn untracked(path: &[String]) -> bool {
    match path {
        [top] => top == "apiVersion" || top == "kind",
        [m, f, ..] if m == "metadata" => !matches!(
            f.as_str(),
            "labels" | "annotations" | "finalizers" | "ownerReferences"
        ),
        _ => false,
    }
}

/// The leaf fields of an object (maps are walked, everything else is a leaf).
pub fn leaf_fields(v: &Value, skip_status: bool) -> FieldSet {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, child) in map {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut vec![], &mut out);
    let is_status = |p: &FieldPath| p.first().is_some_and(|f| f == "status");
    out.retain(|p| !(untracked(p) || (skip_status && is_status(p))));
    out
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.remove(last);
    }
}

/// Maps merge recursively; any other value replaces.
fn deep_merge(target: &mut Value, src: &Value) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                deep_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, s) => *t = s.clone(),
    }
}

pub fn encode_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for k in path {
            cur = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are maps");
        }
    }
    Value::Object(root)
}

pub fn decode_fields_v1(v: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        let Some(map) = v.as_object() else { return };
        let children: Vec<_> = map
            .iter()
            .filter_map(|(k, c)| k.strip_prefix("f:").map(|k| (k, c)))
            .collect();
        if children.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, c) in children {
            path.push(k.to_string());
            walk(c, path, out);
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut vec![], &mut out);
    out
}

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub manager: String,
    pub operation: String,
    pub subresource: String,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

type OwnerKey = (String, String, String);

fn owners(obj: &Value) -> BTreeMap<OwnerKey, Owner> {
    let mut out = BTreeMap::new();
    for e in obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        let o = Owner {
            manager: s("manager"),
            operation: s("operation"),
            subresource: s("subresource"),
            api_version: s("apiVersion"),
            time: s("time"),
            fields: decode_fields_v1(&e["fieldsV1"]),
        };
        out.insert(
            (
                o.manager.clone(),
                o.operation.clone(),
                o.subresource.clone(),
            ),
            o,
        );
    }
    out
}

fn write_owners(obj: &mut Value, owners: BTreeMap<OwnerKey, Owner>) {
    let entries: Vec<Value> = owners
        .into_values()
        .filter(|o| !o.fields.is_empty())
        .map(|o| {
            let mut e = json!({
                "manager": o.manager,
                "operation": o.operation,
                "apiVersion": o.api_version,
                "time": o.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode_fields_v1(&o.fields),
            });
            if !o.subresource.is_empty() {
                e["subresource"] = json!(o.subresource);
            }
            e
        })
        .collect();
    if entries.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(entries);
    }
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Who is writing, for field ownership.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub subresource: &'a str,
    pub api_version: &'a str,
    pub time: &'a str,
}

/// Records a non-apply write (create, update, merge/JSON patch) in `new`'s managedFields.
pub fn track_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>) {
    let status_only = w.subresource == "status";
    let new_fields = leaf_fields(new, false);
    let old_fields = old.map(|o| leaf_fields(o, false)).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.and_then(|o| lookup(o, p)) != lookup(new, p))
        .chain(old_fields.difference(&new_fields))
        .filter(|p| (p.first().is_some_and(|f| f == "status")) == status_only)
        .cloned()
        .collect();
    if changed.is_empty() {
        return;
    }
    let mut all = old.map(owners).unwrap_or_default();
    for o in all.values_mut() {
        o.fields.retain(|p| !changed.iter().any(|c| overlaps(c, p)));
    }
    let key = (
        w.manager.to_string(),
        "Update".to_string(),
        w.subresource.to_string(),
    );
    let entry = all.entry(key).or_insert_with(|| Owner {
        manager: w.manager.into(),
        operation: "Update".into(),
        subresource: w.subresource.into(),
        api_version: w.api_version.into(),
        time: w.time.into(),
        fields: FieldSet::new(),
    });
    entry.time = w.time.into();
    entry
        .fields
        .extend(changed.into_iter().filter(|p| lookup(new, p).is_some()));
    write_owners(new, all);
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub field: String,
}

/// Server-side apply of `applied` onto `current` (None: the object is created).
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    force: bool,
    w: &Writer<'_>,
) -> Result<Value, Vec<Conflict>> {
    let status_only = w.subresource == "status";
    let applied_fields: FieldSet = leaf_fields(applied, !status_only)
        .into_iter()
        .filter(|p| !status_only || p.first().is_some_and(|f| f == "status"))
        .collect();
    let mut all = current.map(owners).unwrap_or_default();
    let me = (
        w.manager.to_string(),
        "Apply".to_string(),
        w.subresource.to_string(),
    );
    let empty = Value::Null;
    let cur = current.unwrap_or(&empty);

    let mut conflicts = vec![];
    for (key, owner) in &all {
        if *key == me {
            continue;
        }
        for owned in &owner.fields {
            for p in applied_fields.iter().filter(|p| overlaps(p, owned)) {
                if lookup(cur, p) != lookup(applied, p) {
                    conflicts.push((key.clone(), owned.clone(), p.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let mut out: Vec<Conflict> = conflicts
            .iter()
            .map(|((m, _, _), _, p)| Conflict {
                manager: m.clone(),
                field: format!(".{}", p.join(".")),
            })
            .collect();
        out.dedup();
        return Err(out);
    }
    // Forced: the conflicting fields change hands.
    for (key, owned, _) in &conflicts {
        if let Some(o) = all.get_mut(key) {
            o.fields.remove(owned);
        }
    }

    let mut new = current.cloned().unwrap_or_else(|| json!({}));
    // Fields this manager applied before and dropped now are removed, unless someone else owns them.
    if let Some(previous) = all.get(&me) {
        for p in previous.fields.difference(&applied_fields) {
            let shared = all
                .iter()
                .any(|(k, o)| *k != me && o.fields.iter().any(|f| overlaps(f, p)));
            if !shared {
                remove_path(&mut new, p);
            }
        }
    }
    let mut to_merge = applied.clone();
    if !status_only && let Some(m) = to_merge.as_object_mut() {
        m.remove("status");
    }
    deep_merge(&mut new, &to_merge);
    all.insert(
        me,
        Owner {
            manager: w.manager.into(),
            operation: "Apply".into(),
            subresource: w.subresource.into(),
            api_version: w.api_version.into(),
            time: w.time.into(),
            fields: applied_fields,
        },
    );
    write_owners(&mut new, all);
    Ok(new)
}

/// The 409 message of a failed apply, as the apiserver words it.
pub fn conflict_message(conflicts: &[Conflict], api_version: &str) -> String {
    let n = conflicts.len();
    if n == 1 {
        return format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {api_version}: {}",
            conflicts[0].manager, conflicts[0].field
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let parts: Vec<String> = by_manager
        .iter()
        .map(|(m, fields)| {
            let lines: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
            format!(
                "conflicts with \"{m}\" using {api_version}:\n{}",
                lines.join("\n")
            )
        })
        .collect();
    format!("Apply failed with {n} conflicts: {}", parts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            subresource: "",
            api_version: "v1",
            time: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn merge_and_json_patches() {
        let mut v = json!({"a": {"b": 1, "c": 2}});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}}));
        json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/a/c", "value": 5}]),
        )
        .unwrap();
        assert_eq!(v["a"]["c"], 5);
        assert!(json_patch(&mut v, &json!([{"op": "test", "path": "/a/c", "value": 6}])).is_err());
    }

    #[test]
    fn fields_v1_round_trips() {
        let set = leaf_fields(
            &json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"r": 1, "l": [1]}}),
            true,
        );
        assert_eq!(set.len(), 3);
        assert_eq!(decode_fields_v1(&encode_fields_v1(&set)), set);
    }

    #[test]
    fn apply_conflicts_unless_forced_and_prunes_dropped_fields() {
        let created = apply(
            None,
            &json!({"spec": {"replicas": 1, "image": "a"}}),
            false,
            &w("flux"),
        )
        .unwrap();
        let mut edited = created.clone();
        edited["spec"]["replicas"] = json!(3);
        track_update(Some(&created), &mut edited, &w("kubectl-edit"));

        let err = apply(
            Some(&edited),
            &json!({"spec": {"replicas": 1, "image": "a"}}),
            false,
            &w("flux"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec![Conflict {
                manager: "kubectl-edit".into(),
                field: ".spec.replicas".into()
            }]
        );
        assert_eq!(
            conflict_message(&err, "apps/v1"),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
        );

        let forced = apply(
            Some(&edited),
            &json!({"spec": {"replicas": 1}}),
            true,
            &w("flux"),
        )
        .unwrap();
        assert_eq!(
            forced["spec"],
            json!({"replicas": 1}),
            "image was dropped by its only owner"
        );
        let managers: Vec<&str> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["flux"], "kubectl-edit lost its only field");
    }
}
