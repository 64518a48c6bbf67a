//! `labelSelector` (equality- and set-based) and `fieldSelector` parsing and
//! matching, with the field labels each resource really supports.

use serde_json::Value;

use crate::errors::ApiError;
use crate::resources::ResourceDef;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<(String, Op)>);

/// Splits at commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (vec![], 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn set_values(s: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{raw}', expected: '('"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = vec![];
        for part in split_top(s)
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let req = if let Some(key) = part.strip_prefix('!') {
                (key.trim().to_string(), Op::NotExists)
            } else if let Some((k, v)) = part.split_once(" notin ") {
                (k.trim().to_string(), Op::NotIn(set_values(v, part)?))
            } else if let Some((k, v)) = part.split_once(" in ") {
                (k.trim().to_string(), Op::In(set_values(v, part)?))
            } else if let Some((k, v)) = part.split_once("!=") {
                (k.trim().to_string(), Op::NotEquals(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (k.trim().to_string(), Op::Equals(v.trim().to_string()))
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                (part.to_string(), Op::Exists)
            } else {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector: {part}"
                )));
            };
            if req.0.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: key is empty in '{part}'"
                )));
            }
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.0.iter().all(|(key, op)| {
            let v = labels.get(key).and_then(Value::as_str);
            match op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Equals(x) => v == Some(x.as_str()),
                Op::NotEquals(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.iter().any(|x| x == v)),
            }
        })
    }
}

/// A parsed `fieldSelector`: `field=value` and `field!=value` terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses and checks the fields against what `def` supports, like the apiserver.
    pub fn parse(s: &str, def: &ResourceDef) -> Result<Self, ApiError> {
        let mut terms = vec![];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = canonical_field(def, field.trim());
            if !supported(def, &field) {
                return Err(if def.custom {
                    ApiError::bad_request(format!(
                        "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    ))
                } else {
                    ApiError::bad_request(format!("field label not supported: {field}"))
                });
            }
            terms.push((field, eq, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name this selector pins, if any (`kubectl get x -w` watches by `metadata.name`).
    pub fn name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }

    /// Matches against the stored (core) representation of the object.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(field, eq, value)| (field_value(obj, field) == *value) == *eq)
    }
}

/// events.k8s.io field names map onto the stored core/v1 fields.
fn canonical_field(def: &ResourceDef, field: &str) -> String {
    if def.group == "events.k8s.io"
        && let Some(rest) = field.strip_prefix("regarding.")
    {
        return format!("involvedObject.{rest}");
    }
    field.to_string()
}

fn supported(def: &ResourceDef, field: &str) -> bool {
    if field == "metadata.name" || field == "metadata.namespace" {
        return true;
    }
    match (def.custom, def.plural.as_str()) {
        (true, _) => false,
        (_, "events") => {
            field.starts_with("involvedObject.")
                || ["reason", "reportingComponent", "source", "type"].contains(&field)
        }
        (_, "pods") => [
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
        .contains(&field),
        (_, "jobs") => field == "status.successful",
        (_, "namespaces") => field == "status.phase",
        _ => false,
    }
}

fn field_value(obj: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let mut v = obj;
    for part in path.split('.') {
        v = &v[part];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "a", "labels": labels}})
    }

    #[test]
    fn label_selectors() {
        let p = pod(json!({"app": "web", "tier": "front"}));
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("missing notin (x)", true),
            ("app in (db),tier", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&p),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in web").is_err());
    }

    #[test]
    fn field_selectors_check_supported_fields() {
        let reg = Registry::with_flux();
        let ks = reg.def(
            reg.find("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
                .unwrap(),
        );
        let ev = reg.def(reg.find("events.k8s.io", "v1", "events").unwrap());
        let err = FieldSelector::parse("spec.path=x", ks).unwrap_err();
        assert_eq!(
            err.message,
            r#""spec.path" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        let sel = FieldSelector::parse("regarding.name=db,metadata.namespace=apps", ev).unwrap();
        let e = json!({"metadata": {"namespace": "apps"}, "involvedObject": {"name": "db"}});
        assert!(sel.matches(&e));
        assert_eq!(
            FieldSelector::parse("metadata.name=x", ks).unwrap().name(),
            Some("x")
        );
    }
}
