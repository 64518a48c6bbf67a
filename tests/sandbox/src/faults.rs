//! Fault injection: failing requests, latency, cut watches, expired history,
//! RBAC denials and expired tokens — set at start or at runtime through the
//! control endpoint (`/sandbox/v1/faults`) or [`crate::Sandbox::add_fault`].

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One fault. Paths are globs over the request path, `*` matching anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Fault {
    /// Answer the next `count` matching requests with `status` (500, 503, 429...);
    /// `method` `WATCH` matches only watches.
    Fail {
        path: String,
        #[serde(default)]
        method: Option<String>,
        #[serde(default = "one")]
        count: u32,
        #[serde(default = "internal")]
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Delay matching requests (all of them, or the next `count`).
    Latency {
        path: String,
        #[serde(default)]
        method: Option<String>,
        millis: u64,
        #[serde(default)]
        count: Option<u32>,
    },
    /// End matching watch streams after some events or seconds (the next `count` watches, or all).
    CutWatch {
        path: String,
        #[serde(default)]
        after_events: Option<u32>,
        #[serde(default)]
        after_seconds: Option<f64>,
        #[serde(default)]
        count: Option<u32>,
    },
    /// Forget the change history now: watches and continue tokens from older versions get 410 Gone.
    Gone,
    /// Deny a verb on a resource (optionally one namespace or name; namespace
    /// `""`: only requests across all namespaces) with the RBAC 403.
    Deny {
        verb: String,
        #[serde(default)]
        group: String,
        resource: String,
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        name: Option<String>,
    },
    /// Every request with the token gets 401 until faults are cleared.
    ExpireToken,
    /// The nodes' kubelets cannot be dialled (a node gone, a firewall): pod logs
    /// answer the apiserver's 500 with the dial error, until faults are cleared.
    KubeletUnreachable,
}

fn one() -> u32 {
    1
}

fn internal() -> u16 {
    500
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// `method` is the request's HTTP method, or `WATCH` for a watch (a GET):
/// a fault for `GET` matches watches too, one for `WATCH` only them.
fn method_matches(want: &Option<String>, method: &str) -> bool {
    want.as_deref().is_none_or(|m| {
        m.eq_ignore_ascii_case(method) || (m.eq_ignore_ascii_case("GET") && method == "WATCH")
    })
}

/// A watch cut: after this many events or this long.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cut {
    pub after_events: Option<u32>,
    pub after: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct Faults {
    active: Mutex<Vec<Fault>>,
}

impl Faults {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<Fault>) -> T) -> T {
        f(&mut self.active.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn add(&self, fault: Fault) {
        self.with(|a| a.push(fault));
    }

    pub fn clear(&self) {
        self.with(Vec::clear);
    }

    pub fn list(&self) -> Vec<Fault> {
        self.with(|a| a.clone())
    }

    pub fn token_expired(&self) -> bool {
        self.with(|a| a.contains(&Fault::ExpireToken))
    }

    /// Counts down the first matching counted fault, dropping it at zero.
    fn take<T>(
        &self,
        mut pick: impl FnMut(&mut Fault) -> Option<(Option<&mut u32>, T)>,
    ) -> Option<T> {
        self.with(|active| {
            for i in 0..active.len() {
                if let Some((count, value)) = pick(&mut active[i]) {
                    if let Some(c) = count {
                        *c = c.saturating_sub(1);
                        if *c == 0 {
                            active.remove(i);
                        }
                    }
                    return Some(value);
                }
            }
            None
        })
    }

    /// The status an injected failure answers this request with.
    pub fn failure(&self, method: &str, path: &str) -> Option<(u16, Option<u64>)> {
        self.take(|f| match f {
            Fault::Fail {
                path: p,
                method: m,
                count,
                status,
                retry_after,
            } if glob(p, path) && method_matches(m, method) => {
                Some((Some(count), (*status, *retry_after)))
            }
            _ => None,
        })
    }

    /// Whether pod logs are cut off from the kubelets.
    pub fn kubelet_unreachable(&self) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|f| matches!(f, Fault::KubeletUnreachable))
    }

    pub fn latency(&self, method: &str, path: &str) -> Option<Duration> {
        self.take(|f| match f {
            Fault::Latency {
                path: p,
                method: m,
                millis,
                count,
            } if glob(p, path) && method_matches(m, method) => {
                Some((count.as_mut(), Duration::from_millis(*millis)))
            }
            _ => None,
        })
    }

    pub fn watch_cut(&self, path: &str) -> Option<Cut> {
        self.take(|f| match f {
            Fault::CutWatch {
                path: p,
                after_events,
                after_seconds,
                count,
            } if glob(p, path) => Some((
                count.as_mut(),
                Cut {
                    after_events: *after_events,
                    after: after_seconds.map(Duration::from_secs_f64),
                },
            )),
            _ => None,
        })
    }

    pub fn denied(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        self.with(|active| {
            active.iter().any(|f| match f {
                Fault::Deny {
                    verb: v,
                    group: g,
                    resource: r,
                    namespace: n,
                    name: nm,
                } => {
                    (v == verb || v == "*")
                        && g == group
                        && r == resource
                        // `""`: requests across all namespaces only (what a
                        // namespaced RoleBinding does not grant).
                        && n.as_deref().is_none_or(|n| {
                            Some(n) == namespace || (n.is_empty() && namespace.is_none())
                        })
                        && nm.as_deref().is_none_or(|nm| nm == name)
                }
                _ => false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("/apis/batch/*", "/apis/batch/v1/jobs"));
        assert!(glob("*jobs*", "/apis/batch/v1/namespaces/a/jobs/x"));
        assert!(!glob("/api/*", "/apis/x"));
        assert!(glob("exact", "exact"));
    }

    #[test]
    fn counted_faults_run_out() {
        let f = Faults::default();
        f.add(
            serde_json::from_str(
                r#"{"type":"fail","path":"/api/*","count":2,"status":503,"retryAfter":1}"#,
            )
            .unwrap(),
        );
        assert_eq!(f.failure("GET", "/api/v1/pods"), Some((503, Some(1))));
        assert_eq!(f.failure("GET", "/apis/x"), None);
        assert_eq!(f.failure("GET", "/api/v1/pods"), Some((503, Some(1))));
        assert_eq!(f.failure("GET", "/api/v1/pods"), None);
    }

    #[test]
    fn denials_match_scope() {
        let f = Faults::default();
        f.add(Fault::Deny {
            verb: "list".into(),
            group: "batch".into(),
            resource: "jobs".into(),
            namespace: Some("a".into()),
            name: None,
        });
        assert!(f.denied("list", "batch", "jobs", Some("a"), ""));
        assert!(!f.denied("list", "batch", "jobs", Some("b"), ""));
        assert!(!f.denied("get", "batch", "jobs", Some("a"), "x"));
    }
}
