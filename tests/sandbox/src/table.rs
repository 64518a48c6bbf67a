//! `meta.k8s.io/v1` Tables, served when a client asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io` (as `kubectl get` does).
//! Custom resources use their CRD's printer columns; built-ins use the columns
//! kube-apiserver's printers show.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::clock::human_duration;
use crate::resources::{ColumnSource, ResourceDef};
use crate::store::Stored;

/// What a row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

pub fn column_definitions(def: &ResourceDef) -> Value {
    Value::Array(
        def.columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.type_,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

pub fn row(def: &ResourceDef, obj: &Arc<Stored>, now: Timestamp, include: IncludeObject) -> Value {
    let cells: Vec<Value> = def
        .columns
        .iter()
        .map(|c| cell(c, &obj.value, now))
        .collect();
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.value["metadata"],
            });
        }
        IncludeObject::Object => row["object"] = obj.value.clone(),
    }
    row
}

/// A whole Table; `columns` is false for watch events after the first.
pub fn table(def: &ResourceDef, rows: Vec<Value>, columns: bool, metadata: Value) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": if columns { column_definitions(def) } else { json!([]) },
        "rows": rows,
    })
}

fn age(now: Timestamp, ts: &Value) -> Value {
    match ts.as_str().and_then(|s| s.parse::<Timestamp>().ok()) {
        Some(t) => json!(human_duration(now.duration_since(t))),
        None => json!("<unknown>"),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn or_none(v: &Value) -> Value {
    match v.as_str() {
        Some(x) if !x.is_empty() => json!(x),
        _ => json!("<none>"),
    }
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")
}

fn cell(col: &crate::resources::Column, obj: &Value, now: Timestamp) -> Value {
    match &col.source {
        ColumnSource::JsonPath(path) => {
            let v = jsonpath(obj, path).unwrap_or(Value::Null);
            match (col.type_.as_str(), &v) {
                ("date", Value::String(_)) => age(now, &v),
                (_, Value::Null) => Value::Null,
                ("string", other) if !other.is_string() => json!(s(other)),
                _ => v,
            }
        }
        ColumnSource::Builtin(name) => builtin_cell(name, obj, now),
    }
}

fn builtin_cell(name: &str, obj: &Value, now: Timestamp) -> Value {
    let status = &obj["status"];
    let spec = &obj["spec"];
    match name {
        "name" => obj["metadata"]["name"].clone(),
        "age" => age(now, &obj["metadata"]["creationTimestamp"]),
        "namespace.phase" => status["phase"].clone(),
        "pod.ready" => {
            let total = spec["containers"].as_array().map_or(0, Vec::len);
            let ready = status["containerStatuses"]
                .as_array()
                .map_or(0, |cs| cs.iter().filter(|c| c["ready"] == true).count());
            json!(format!("{ready}/{total}"))
        }
        "pod.status" => {
            if obj["metadata"]["deletionTimestamp"].is_string() {
                return json!("Terminating");
            }
            let state = status["containerStatuses"]
                .as_array()
                .and_then(|cs| cs.first())
                .map(|c| &c["state"]);
            let reason = state.and_then(|st| {
                st["terminated"]["reason"]
                    .as_str()
                    .or(st["waiting"]["reason"].as_str())
            });
            json!(
                reason
                    .or(status["reason"].as_str())
                    .or(status["phase"].as_str())
                    .unwrap_or("Unknown")
            )
        }
        "pod.restarts" => {
            let n: i64 = status["containerStatuses"].as_array().map_or(0, |cs| {
                cs.iter().filter_map(|c| c["restartCount"].as_i64()).sum()
            });
            json!(n.to_string())
        }
        "pod.ip" => or_none(&status["podIP"]),
        "pod.node" => or_none(&spec["nodeName"]),
        "event.lastSeen" => {
            let t = if obj["lastTimestamp"].is_string() {
                &obj["lastTimestamp"]
            } else {
                &obj["eventTime"]
            };
            age(now, t)
        }
        "event.type" => obj["type"].clone(),
        "event.reason" => obj["reason"].clone(),
        "event.object" => {
            let o = &obj["involvedObject"];
            json!(format!(
                "{}/{}",
                s(&o["kind"]).to_lowercase(),
                s(&o["name"])
            ))
        }
        "event.message" => json!(s(&obj["message"]).trim()),
        "job.status" => {
            let state = if obj["metadata"]["deletionTimestamp"].is_string() {
                "Terminating"
            } else if condition(obj, "Failed").is_some() {
                "Failed"
            } else if condition(obj, "Complete").is_some() {
                "Complete"
            } else if condition(obj, "Suspended").is_some() {
                "Suspended"
            } else if condition(obj, "FailureTarget").is_some() {
                "FailureTarget"
            } else if condition(obj, "SuccessCriteriaMet").is_some() {
                "SuccessCriteriaMet"
            } else {
                "Running"
            };
            json!(state)
        }
        "job.completions" => {
            let want = spec["completions"]
                .as_i64()
                .map_or_else(|| "1".into(), |c| c.to_string());
            json!(format!(
                "{}/{want}",
                status["succeeded"].as_i64().unwrap_or(0)
            ))
        }
        "job.duration" => {
            let start = status["startTime"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok());
            let end = status["completionTime"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
                .unwrap_or(now);
            match start {
                Some(start) => json!(human_duration(end.duration_since(start))),
                None => json!(""),
            }
        }
        "containers" | "images" => {
            let key = if name == "containers" {
                "name"
            } else {
                "image"
            };
            let cs = spec["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            json!(cs.iter().map(|c| s(&c[key])).collect::<Vec<_>>().join(","))
        }
        "deployment.ready" => json!(format!(
            "{}/{}",
            status["readyReplicas"].as_i64().unwrap_or(0),
            spec["replicas"].as_i64().unwrap_or(0)
        )),
        "deployment.updated" => json!(status["updatedReplicas"].as_i64().unwrap_or(0)),
        "deployment.available" => json!(status["availableReplicas"].as_i64().unwrap_or(0)),
        _ => Value::Null,
    }
}

/// The subset of kubectl JSONPath printer columns use: `.a.b`, `.a[0]`,
/// `.a[?(@.k=="v")].b`. Returns the first match.
pub fn jsonpath(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj.clone();
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?.clone();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (key, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches('"').trim_matches('\'');
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|e| e.get(key.trim()).and_then(Value::as_str) == Some(want))?
                    .clone();
            } else {
                let i: usize = inner.parse().ok()?;
                cur = cur.get(i)?.clone();
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn jsonpath_subset() {
        let v = json!({"status": {"conditions": [{"type": "Healthy", "status": "False"}, {"type": "Ready", "status": "True", "message": "ok"}]}});
        assert_eq!(
            jsonpath(&v, r#".status.conditions[?(@.type=="Ready")].message"#),
            Some(json!("ok"))
        );
        assert_eq!(
            jsonpath(&v, ".status.conditions[0].type"),
            Some(json!("Healthy"))
        );
        assert_eq!(jsonpath(&v, ".status.missing"), None);
    }

    #[test]
    fn kustomization_rows_use_the_crd_columns() {
        let reg = Registry::with_flux();
        let def = reg.def(
            reg.find("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
                .unwrap(),
        );
        let obj = Arc::new(Stored::new(json!({
            "metadata": {"name": "app", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "message": "dependency 'apps/x' is not ready"}]}
        })));
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let r = row(def, &obj, now, IncludeObject::Metadata);
        assert_eq!(
            r["cells"],
            json!(["app", "5m", "False", "dependency 'apps/x' is not ready"])
        );
        assert_eq!(r["object"]["kind"], "PartialObjectMetadata");
    }
}
