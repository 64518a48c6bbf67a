//! API errors as kube-apiserver returns them: a `metav1.Status` with the real
//! reason, code and message shape. Every failing verb of the sandbox goes
//! through [`ApiError`], so the plugin and kubectl see what a cluster would say.
//!
//! Message shapes follow `k8s.io/apimachinery/pkg/api/errors` (NewNotFound,
//! NewConflict, NewInvalid, NewForbidden, NewResourceExpired, ...).

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// One failed request, ready to be serialized as a `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for the `Retry-After` header (429 and 503).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `jobs.batch`, or `pods` for the core group: how the apiserver names a resource in messages.
pub fn qualified(def: &ResourceDef) -> String {
    if def.group.is_empty() {
        def.plural.clone()
    } else {
        format!("{}.{}", def.plural, def.group)
    }
}

fn details(def: &ResourceDef, name: &str) -> Value {
    let mut d = json!({ "group": def.group, "kind": def.plural });
    if !name.is_empty() {
        d["name"] = json!(name);
    }
    d
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(def)),
        )
        .with_details(details(def, name))
    }

    /// The 404 for a path that names no known resource.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        Self::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({ "name": ns, "kind": "namespaces" }))
    }

    pub fn already_exists(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(def)),
        )
        .with_details(details(def, name))
    }

    /// `Operation cannot be fulfilled on jobs.batch "x": <why>`.
    pub fn conflict(def: &ResourceDef, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(def)
            ),
        )
        .with_details(details(def, name))
    }

    pub fn stale(def: &ResourceDef, name: &str) -> Self {
        Self::conflict(
            def,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 with one cause per field, shaped like `NewInvalid`.
    pub fn invalid(def: &ResourceDef, name: &str, causes: &[(String, String)]) -> Self {
        let group_kind = if def.group.is_empty() {
            def.kind.clone()
        } else {
            format!("{}.{}", def.kind, def.group)
        };
        let rendered: Vec<String> = causes
            .iter()
            .map(|(field, msg)| format!("{field}: {msg}"))
            .collect();
        let joined = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(field, msg)| json!({ "reason": "FieldValueInvalid", "message": msg, "field": field }))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{group_kind} \"{name}\" is invalid: {joined}"),
        )
        .with_details(
            json!({ "name": name, "group": def.group, "kind": def.kind, "causes": causes }),
        )
    }

    /// The RBAC denial, word for word as the authorizer phrases it; `resource`
    /// is the plural, or `plural/subresource`.
    pub fn forbidden(
        user: &str,
        verb: &str,
        def: &ResourceDef,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        let subject = if name.is_empty() {
            qualified(def)
        } else {
            format!("{} \"{name}\"", qualified(def))
        };
        let scope = match namespace {
            Some(ns) if def.namespaced => format!("in the namespace \"{ns}\""),
            _ => "at the cluster scope".to_string(),
        };
        Self::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                resource, def.group
            ),
        )
        .with_details(details(def, name))
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    }

    /// A watch or list from a resourceVersion that history no longer holds.
    pub fn too_old(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    pub fn continue_expired() -> Self {
        Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new \
             list without the continue parameter, or use the continue token in this response to retrieve the \
             remainder of the results. Continuing with the provided token results in an inconsistent list - \
             objects that were created, modified, or deleted between the time the first chunk was returned and now \
             may show up in the list.",
        )
    }

    /// An injected fault: 500, 503 or 429 with the apiserver's wording.
    pub fn injected(code: u16, retry_after: Option<u64>) -> Self {
        let mut e = match code {
            429 => Self::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            503 => Self::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => Self::new(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted",
            ),
            _ => Self::new(
                code,
                "InternalError",
                "Internal error occurred: injected fault (jobgate-sandbox)",
            ),
        };
        if let Some(secs) = retry_after {
            e.details = Some(json!({ "retryAfterSeconds": secs }));
            e.retry_after = Some(secs);
        }
        e
    }

    /// A 500 whose message is the apiserver's own words (a proxied failure).
    pub fn internal_as_is(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn messages_match_the_apiserver() {
        let reg = Registry::with_flux();
        let ks = reg.def(
            reg.find("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
                .unwrap(),
        );
        let jobs = reg.def(reg.find("batch", "v1", "jobs").unwrap());
        assert_eq!(
            ApiError::not_found(ks, "x").message,
            r#"kustomizations.kustomize.toolkit.fluxcd.io "x" not found"#
        );
        assert_eq!(
            ApiError::forbidden(
                "system:serviceaccount:apps:ci",
                "delete",
                jobs,
                "jobs",
                Some("apps"),
                "x"
            )
            .message,
            r#"jobs.batch "x" is forbidden: User "system:serviceaccount:apps:ci" cannot delete resource "jobs" in API group "batch" in the namespace "apps""#
        );
        assert_eq!(
            ApiError::forbidden("u", "list", ks, "kustomizations", None, "").message,
            r#"kustomizations.kustomize.toolkit.fluxcd.io is forbidden: User "u" cannot list resource "kustomizations" in API group "kustomize.toolkit.fluxcd.io" at the cluster scope"#
        );
        let inv = ApiError::invalid(
            jobs,
            "m",
            &[(
                "spec.template".into(),
                "Invalid value: x: field is immutable".into(),
            )],
        );
        assert_eq!(
            inv.message,
            r#"Job.batch "m" is invalid: spec.template: Invalid value: x: field is immutable"#
        );
        assert_eq!(
            inv.to_status()["details"]["causes"][0]["field"],
            "spec.template"
        );
    }
}
