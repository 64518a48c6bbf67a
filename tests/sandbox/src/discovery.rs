//! Discovery documents: `/version`, the legacy `/api`, `/apis`, `/apis/G/V`
//! lists, aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1, which
//! kubectl 1.32 asks for first), and a minimal OpenAPI v3 index so that
//! `kubectl apply`/`create` can "download openapi".

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceDef};

pub const KUBE_VERSION: (&str, &str) = ("1", "33");

const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const SUBRESOURCE_VERBS: &[&str] = &["get", "patch", "update"];

pub fn version() -> Value {
    json!({
        "major": KUBE_VERSION.0,
        "minor": KUBE_VERSION.1,
        "emulationMajor": KUBE_VERSION.0,
        "emulationMinor": KUBE_VERSION.1,
        "gitVersion": format!("v{}.{}.0-jobgate-sandbox", KUBE_VERSION.0, KUBE_VERSION.1),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }],
    })
}

fn group_versions(reg: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = reg
        .versions_of(group)
        .iter()
        .map(|v| json!({ "groupVersion": format!("{group}/{v}"), "version": v }))
        .collect();
    json!({
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .map(|g| group_versions(reg, g))
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    if reg.versions_of(group).is_empty() {
        return None;
    }
    let mut g = group_versions(reg, group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn resource_entry(d: &ResourceDef) -> Value {
    let mut r = json!({
        "name": d.plural,
        "singularName": d.singular,
        "namespaced": d.namespaced,
        "kind": d.kind,
        "verbs": VERBS,
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    r
}

fn subresources(d: &ResourceDef) -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    let mut out = vec![];
    if d.status_subresource {
        out.push(("status", "", SUBRESOURCE_VERBS));
    }
    if d.group.is_empty() && d.plural == "pods" {
        out.push(("log", "Pod", &["get"][..]));
    }
    out
}

pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = vec![];
    for id in reg.in_group_version(group, version) {
        let d = reg.def(id);
        resources.push(resource_entry(d));
        for (sub, _, verbs) in subresources(d) {
            resources.push(json!({
                "name": format!("{}/{sub}", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": verbs,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources }),
    )
}

/// `APIGroupDiscoveryList` for `/api` (`core`) or `/apis`, in `apidiscovery.k8s.io/{v2,v2beta1}`.
pub fn aggregated(reg: &Registry, core: bool, api_version: &str) -> Value {
    let groups: Vec<String> = if core {
        vec![String::new()]
    } else {
        reg.groups()
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|group| {
            let versions: Vec<Value> = reg
                .versions_of(group)
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = reg
                        .in_group_version(group, version)
                        .map(|id| {
                            let d = reg.def(id);
                            let kind = json!({ "group": d.group, "version": d.version, "kind": d.kind });
                            let mut r = json!({
                                "resource": d.plural,
                                "responseKind": kind,
                                "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": d.singular,
                                "verbs": VERBS,
                            });
                            if !d.short_names.is_empty() {
                                r["shortNames"] = json!(d.short_names);
                            }
                            if !d.categories.is_empty() {
                                r["categories"] = json!(d.categories);
                            }
                            let subs: Vec<Value> = subresources(d)
                                .into_iter()
                                .map(|(sub, kind_override, verbs)| {
                                    let kind = if kind_override.is_empty() { d.kind.as_str() } else { kind_override };
                                    json!({
                                        "subresource": sub,
                                        "responseKind": { "group": d.group, "version": d.version, "kind": kind },
                                        "verbs": verbs,
                                    })
                                })
                                .collect();
                            if !subs.is_empty() {
                                r["subresources"] = json!(subs);
                            }
                            r
                        })
                        .collect();
                    json!({ "version": version, "resources": resources, "freshness": "Current" })
                })
                .collect();
            json!({ "metadata": { "name": group, "creationTimestamp": null }, "versions": versions })
        })
        .collect();
    json!({ "kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items })
}

/// `/openapi/v3`: the index of group-version documents.
pub fn openapi_v3_index(reg: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({ "serverRelativeURL": "/openapi/v3/api/v1?hash=0" }),
    );
    for g in reg.groups() {
        for v in reg.versions_of(&g) {
            paths.insert(
                format!("apis/{g}/{v}"),
                json!({ "serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash=0") }),
            );
        }
    }
    json!({ "paths": paths })
}

/// A group-version's OpenAPI document: its paths and operations, each tagged
/// with its kind, without schemas. kubectl looks for the PATCH operation's
/// `fieldValidation` parameter to decide it may leave validation to the server
/// (which the sandbox accepts and does not enforce).
pub fn openapi_v3_document(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let ids: Vec<_> = reg.in_group_version(group, version).collect();
    if ids.is_empty() {
        return None;
    }
    let query = |names: &[&str]| -> Value {
        Value::Array(
            names.iter().map(|n| json!({ "name": n, "in": "query", "schema": { "type": "string", "uniqueItems": true } })).collect(),
        )
    };
    let mut paths = serde_json::Map::new();
    for id in ids {
        let d = reg.def(id);
        let gvk = json!({ "group": d.group, "version": d.version, "kind": d.kind });
        let op = |action: &str, params: &[&str]| {
            json!({
                "operationId": format!("{action}{}", d.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": query(params),
                "responses": { "200": { "description": "OK" } },
            })
        };
        let base = if d.namespaced {
            format!("{}/namespaces/{{namespace}}/{}", d.prefix(), d.plural)
        } else {
            format!("{}/{}", d.prefix(), d.plural)
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(base.clone(), json!({
            "get": op("list", &["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]),
            "post": op("post", &write),
        }));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": op("get", &[]),
                "put": op("put", &write),
                "patch": op("patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": op("delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": format!("v{}.{}.0", KUBE_VERSION.0, KUBE_VERSION.1) },
        "paths": paths,
        "components": { "schemas": {} },
    }))
}
