//! The API semantics over the store, shared by the HTTP handlers and the
//! in-process controllers: defaulting, validation, generations, the status
//! subresource, optimistic concurrency, patches, field ownership, finalizers,
//! preconditions and garbage collection of dependents.
//!
//! Each rule follows kube-apiserver (`pkg/registry/...` strategies and
//! `apiserver/pkg/registry/generic/registry/store.go`); where the sandbox
//! simplifies, the README says so.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::errors::ApiError;
use crate::patch::{self, PatchType, Writer};
use crate::resources::{Registry, ResourceDef, ResourceId};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Store, Stored, Txn};

/// How dependents of a deleted object are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "Orphan" => Ok(Propagation::Orphan),
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            other => Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": \
                 supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            ))),
        }
    }
}

/// Who writes and how.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The field manager; empty means the apiserver's default for the client.
    pub manager: String,
    pub dry_run: bool,
    /// Writing through the `status` subresource.
    pub status: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// Gone at once; carries the last state.
    Now(Arc<Stored>),
    /// Marked for deletion (finalizers or foreground dependents pending).
    Pending(Arc<Stored>),
}

#[derive(Debug)]
pub struct DeleteOutcome {
    pub deleted: Deleted,
    /// A `Warning` header for the client (kubectl prints it).
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    /// `resourceVersion=0`: served "from the cache", which ignores `limit`.
    pub from_cache: bool,
}

#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Arc<Stored>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

pub struct ApiServer {
    pub registry: Registry,
    pub store: Store,
    pub clock: Clock,
    random: RandomState,
    counter: AtomicU64,
}

const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

impl ApiServer {
    pub fn new(registry: Registry, clock: Clock, history: usize) -> Self {
        let store = Store::new(registry.len(), history);
        ApiServer {
            registry,
            store,
            clock,
            random: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    pub fn def(&self, res: ResourceId) -> &ResourceDef {
        self.registry.def(res)
    }

    fn random_u64(&self) -> u64 {
        self.random
            .hash_one(self.counter.fetch_add(1, Ordering::Relaxed))
    }

    pub fn new_uid(&self) -> String {
        let (a, b) = (self.random_u64(), self.random_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48 & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// The 5-character suffix of `generateName` and of a Job's pods.
    pub fn random_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut r = self.random_u64();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
                r /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    // ---- reads ---------------------------------------------------------------

    pub fn get(&self, res: ResourceId, ns: &str, name: &str) -> Result<Arc<Stored>, ApiError> {
        let storage = self.registry.storage(res);
        let obj = self
            .store
            .get(storage, ns, name)
            .ok_or_else(|| ApiError::not_found(self.def(res), name))?;
        Ok(self.present(res, obj))
    }

    pub fn list(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage, ApiError> {
        let storage = self.registry.storage(res);
        let (start_after, list_rv) = match &q.continue_token {
            Some(token) => {
                let (rv, key) = decode_continue(token)?;
                if rv < self.store.floor() {
                    return Err(ApiError::continue_expired());
                }
                (Some(key), Some(rv))
            }
            None => (None, None),
        };
        let (all, rv) = self.store.list(storage, ns);
        let limit = if q.from_cache {
            None
        } else {
            q.limit.filter(|&l| l > 0)
        };
        let mut items = vec![];
        let mut last_key = None;
        let mut scanned = 0;
        for obj in &all {
            scanned += 1;
            let key = format!("{}/{}", obj.namespace(), obj.name());
            if start_after
                .as_ref()
                .is_some_and(|after| key.as_str() <= after.as_str())
            {
                continue;
            }
            if !q.labels.matches(&obj.value) || !q.fields.matches(&obj.value) {
                continue;
            }
            items.push(obj.clone());
            if limit.is_some_and(|l| items.len() >= l) {
                last_key = Some(key);
                break;
            }
        }
        let rv = list_rv.unwrap_or(rv);
        let more = last_key.is_some() && scanned < all.len();
        let continue_token = if more {
            last_key.map(|k| encode_continue(rv, &k))
        } else {
            None
        };
        let remaining =
            (more && q.labels.is_empty() && q.fields.is_empty()).then(|| all.len() - scanned);
        let items = items.into_iter().map(|o| self.present(res, o)).collect();
        Ok(ListPage {
            items,
            resource_version: rv,
            continue_token,
            remaining,
        })
    }

    /// The object as the requested resource shows it (events.k8s.io converts from core/v1).
    pub fn present(&self, res: ResourceId, obj: Arc<Stored>) -> Arc<Stored> {
        if self.def(res).group == "events.k8s.io" {
            Arc::new(Stored::new(event_from_core(&obj.value)))
        } else {
            obj
        }
    }

    // ---- writes ---------------------------------------------------------------

    fn check_type(&self, def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
        let want = def.api_version();
        match obj.get("apiVersion").and_then(Value::as_str) {
            Some(v) if v != want => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({want})"
                )));
            }
            _ => obj["apiVersion"] = json!(want),
        }
        match obj.get("kind").and_then(Value::as_str) {
            Some(k) if k != def.kind => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    def.kind
                )));
            }
            _ => obj["kind"] = json!(def.kind),
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        Ok(())
    }

    fn check_namespace(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        obj: &mut Value,
    ) -> Result<String, ApiError> {
        if !def.namespaced {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            return Ok(String::new());
        }
        let body_ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let ns = match (ns, body_ns.as_str()) {
            (Some(url), "") => url.to_string(),
            (Some(url), b) if url != b => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (_, b) if !b.is_empty() => b.to_string(),
            _ => {
                return Err(ApiError::bad_request(
                    "the namespace of the object is required",
                ));
            }
        };
        obj["metadata"]["namespace"] = json!(ns);
        Ok(ns)
    }

    fn namespace_exists(&self, txn: &Txn<'_>, ns: &str) -> bool {
        ns.is_empty() || txn.get(self.namespaces(), "", ns).is_some()
    }

    pub fn namespaces(&self) -> ResourceId {
        self.registry
            .find("", "v1", "namespaces")
            .expect("namespaces are built in")
    }

    fn default_manager(opts: &WriteOptions) -> &str {
        if opts.manager.is_empty() {
            "unknown"
        } else {
            &opts.manager
        }
    }

    /// `POST`: create an object.
    pub fn create(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Stored>, ApiError> {
        self.create_owned(res, ns, obj, opts, None)
    }

    /// Create, with the managedFields already decided (an apply that creates).
    fn create_owned(
        &self,
        res: ResourceId,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
        managed: Option<Value>,
    ) -> Result<Arc<Stored>, ApiError> {
        let def = self.def(res).clone();
        let storage = self.registry.storage(res);
        if def.group == "events.k8s.io" {
            self.check_type(&def, &mut obj)?;
            obj = event_to_core(&obj);
        } else {
            self.check_type(&def, &mut obj)?;
        }
        let ns = self.check_namespace(&def, ns, &mut obj)?;
        let mut name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            match obj["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => {
                    name = format!("{prefix}{}", self.random_suffix())
                }
                _ => {
                    return Err(ApiError::invalid(
                        &def,
                        "",
                        &[(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            }
        }
        obj["metadata"]["name"] = json!(name);
        let meta = obj["metadata"].as_object_mut().expect("checked above");
        for server_set in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            meta.remove(server_set);
        }
        obj["metadata"]["uid"] = json!(self.new_uid());
        obj["metadata"]["creationTimestamp"] = json!(self.clock.rfc3339());
        if def.tracks_generation {
            obj["metadata"]["generation"] = json!(1);
        }
        if def.status_subresource
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        default_object(&def, &mut obj);
        validate(&def, None, &obj)?;
        match managed {
            Some(m) => obj["metadata"]["managedFields"] = m,
            None => {
                let now = self.clock.rfc3339();
                let api_version = def.api_version();
                patch::track_update(
                    None,
                    &mut obj,
                    &Writer {
                        manager: Self::default_manager(opts),
                        subresource: "",
                        api_version: &api_version,
                        time: &now,
                    },
                );
            }
        }

        let mut txn = self.store.txn();
        if !self.namespace_exists(&txn, &ns) {
            return Err(ApiError::namespace_not_found(&ns));
        }
        if txn.get(storage, &ns, &name).is_some() {
            return Err(ApiError::already_exists(&def, &name));
        }
        if opts.dry_run {
            return Ok(self.present(res, Arc::new(Stored::new(obj))));
        }
        let stored = txn.put(storage, obj);
        Ok(self.present(res, stored))
    }

    /// Loads an object as a scenario describes it: status, uid and timestamps kept.
    pub fn load(&self, mut obj: Value) -> Result<Arc<Stored>, String> {
        let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = obj["kind"].as_str().unwrap_or("").to_string();
        let res = self
            .registry
            .find_kind(&api_version, &kind)
            .ok_or_else(|| format!("the sandbox does not serve {kind} in {api_version}"))?;
        let def = self.def(res).clone();
        let storage = self.registry.storage(res);
        if def.group == "events.k8s.io" {
            obj = event_to_core(&obj);
        }
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            return Err(format!("a {kind} without metadata.name"));
        }
        let ns = if def.namespaced {
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            obj["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            String::new()
        };
        if obj["metadata"]["uid"].as_str().is_none() {
            obj["metadata"]["uid"] = json!(self.new_uid());
        }
        if obj["metadata"]["creationTimestamp"].as_str().is_none() {
            obj["metadata"]["creationTimestamp"] = json!(self.clock.rfc3339());
        }
        if def.tracks_generation && obj["metadata"]["generation"].as_i64().is_none() {
            obj["metadata"]["generation"] = json!(1);
        }
        default_object(&def, &mut obj);
        let mut txn = self.store.txn();
        if !ns.is_empty() && txn.get(self.namespaces(), "", &ns).is_none() {
            let mut ns_obj =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            ns_obj["metadata"]["uid"] = json!(self.new_uid());
            ns_obj["metadata"]["creationTimestamp"] = obj["metadata"]["creationTimestamp"].clone();
            default_object(self.def(self.namespaces()), &mut ns_obj);
            txn.put(self.namespaces(), ns_obj);
        }
        Ok(txn.put(storage, obj))
    }

    /// `PUT`: replace an object (or its status).
    pub fn update(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Stored>, ApiError> {
        let def = self.def(res).clone();
        self.check_type(&def, &mut obj)?;
        if def.group == "events.k8s.io" {
            obj = event_to_core(&obj);
        }
        if let Some(body_name) = obj["metadata"]["name"].as_str()
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if body_rv.is_empty() && def.custom {
            return Err(ApiError::invalid(
                &def,
                name,
                &[(
                    "metadata.resourceVersion".into(),
                    "Invalid value: 0x0: must be specified for an update".into(),
                )],
            ));
        }
        let mut txn = self.store.txn();
        let storage = self.registry.storage(res);
        let current = txn
            .get(storage, ns, name)
            .ok_or_else(|| ApiError::not_found(&def, name))?;
        if !body_rv.is_empty() && body_rv != current.resource_version().to_string() {
            return Err(ApiError::stale(&def, name));
        }
        self.commit_update(&mut txn, res, &current, obj, opts)
    }

    /// `PATCH`: merge, JSON, strategic (as merge) or apply.
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the PATCH request's parameters"
    )]
    pub fn patch(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        kind: PatchType,
        body: &[u8],
        force: bool,
        opts: &WriteOptions,
    ) -> Result<Arc<Stored>, ApiError> {
        let def = self.def(res).clone();
        if kind == PatchType::Strategic && def.custom {
            return Err(ApiError::unsupported_media_type());
        }
        let patch_value: Value = if kind == PatchType::Apply {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the apply patch is not UTF-8"))?;
            serde_saphyr::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
        };
        let storage = self.registry.storage(res);
        let mut txn = self.store.txn();
        let current = txn.get(storage, ns, name);

        if kind == PatchType::Apply {
            if opts.manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PATCH /apply requires fieldManager parameter",
                ));
            }
            let mut applied = patch_value;
            self.check_type(&def, &mut applied)?;
            if let Some(n) = applied["metadata"]["name"].as_str()
                && n != name
            {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            let now = self.clock.rfc3339();
            let api_version = def.api_version();
            let writer = Writer {
                manager: &opts.manager,
                subresource: if opts.status { "status" } else { "" },
                api_version: &api_version,
                time: &now,
            };
            let Some(current) = current else {
                // Apply creates the object it names.
                drop(txn);
                if opts.status {
                    return Err(ApiError::not_found(&def, name));
                }
                let mut created = patch::apply(None, &applied, force, &writer).map_err(|c| {
                    ApiError::conflict(&def, name, &patch::conflict_message(&c, &api_version))
                })?;
                created["metadata"]["name"] = json!(name);
                let managed = created["metadata"]["managedFields"].take();
                return self.create_owned(
                    res,
                    Some(ns).filter(|n| !n.is_empty()),
                    created,
                    opts,
                    Some(managed),
                );
            };
            let new =
                patch::apply(Some(&current.value), &applied, force, &writer).map_err(|c| {
                    let mut e = ApiError::conflict(&def, name, "");
                    e.message = patch::conflict_message(&c, &api_version);
                    e.details = Some(json!({
                        "name": name, "group": def.group, "kind": def.plural,
                        "causes": c.iter().map(|c| json!({
                            "reason": "FieldManagerConflict",
                            "message": format!("conflict with \"{}\"", c.manager),
                            "field": c.field,
                        })).collect::<Vec<_>>(),
                    }));
                    e
                })?;
            return self.commit(&mut txn, res, &current, new, opts, false);
        }

        let current = current.ok_or_else(|| ApiError::not_found(&def, name))?;
        let mut new = if def.group == "events.k8s.io" {
            event_from_core(&current.value)
        } else {
            current.value.clone()
        };
        match kind {
            PatchType::Json => patch::json_patch(&mut new, &patch_value)
                .map_err(|e| ApiError::invalid(&def, name, &[(String::new(), e)]))?,
            PatchType::Strategic => {
                patch::merge_patch(&mut new, &patch::strip_directives(&patch_value))
            }
            _ => patch::merge_patch(&mut new, &patch_value),
        }
        if def.group == "events.k8s.io" {
            new = event_to_core(&new);
        }
        // A resourceVersion in the patch is a precondition.
        if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
            && rv != current.resource_version().to_string()
        {
            return Err(ApiError::stale(&def, name));
        }
        self.commit_update(&mut txn, res, &current, new, opts)
    }

    fn commit_update(
        &self,
        txn: &mut Txn<'_>,
        res: ResourceId,
        current: &Arc<Stored>,
        new: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Stored>, ApiError> {
        self.commit(txn, res, current, new, opts, true)
    }

    /// The update strategy: what a write may change, generation, validation, finalizers.
    fn commit(
        &self,
        txn: &mut Txn<'_>,
        res: ResourceId,
        current: &Arc<Stored>,
        mut new: Value,
        opts: &WriteOptions,
        track: bool,
    ) -> Result<Arc<Stored>, ApiError> {
        let def = self.def(res).clone();
        let storage = self.registry.storage(res);
        let old = &current.value;
        if opts.status {
            // Through /status only the status changes.
            let status = new["status"].take();
            new = old.clone();
            new["status"] = status;
            if new["status"].is_null()
                && let Some(m) = new.as_object_mut()
            {
                m.remove("status");
            }
        } else if def.status_subresource {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        for server_set in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ] {
            match old["metadata"].get(server_set) {
                Some(v) => new["metadata"][server_set] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(server_set);
                    }
                }
            }
        }
        if track {
            // Ownership is the server's record: computed from the old object, never taken from the body.
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        new["metadata"]["generation"] = old["metadata"]["generation"].clone();
        if def.tracks_generation && spec_changed(&def, old, &new) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
            new["metadata"]["generation"] = json!(g + 1);
        }
        strip_nulls_in_metadata(&mut new);
        validate(&def, Some(old), &new)?;
        if track {
            let now = self.clock.rfc3339();
            let api_version = def.api_version();
            patch::track_update(
                Some(old),
                &mut new,
                &Writer {
                    manager: Self::default_manager(opts),
                    subresource: if opts.status { "status" } else { "" },
                    api_version: &api_version,
                    time: &now,
                },
            );
        }
        if new == *old {
            // A no-op write neither bumps the resourceVersion nor notifies watchers.
            return Ok(self.present(res, current.clone()));
        }
        if opts.dry_run {
            return Ok(self.present(res, Arc::new(Stored::new(new))));
        }
        let finalized = new["metadata"]["deletionTimestamp"].is_string()
            && new["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if finalized {
            let (ns, name) = (current.namespace().to_string(), current.name().to_string());
            txn.put(storage, new);
            let gone = txn.remove(storage, &ns, &name).expect("just written");
            return Ok(self.present(res, gone));
        }
        Ok(self.present(res, txn.put(storage, new)))
    }

    /// `DELETE` with preconditions and a propagation policy.
    pub fn delete(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        let def = self.def(res).clone();
        let storage = self.registry.storage(res);
        let mut txn = self.store.txn();
        let current = txn
            .get(storage, ns, name)
            .ok_or_else(|| ApiError::not_found(&def, name))?;
        let meta = &current.value["metadata"];
        if let Some(uid) = &opts.uid {
            let actual = meta["uid"].as_str().unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict(
                    &def,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            let actual = current.resource_version().to_string();
            if *rv != actual {
                return Err(ApiError::conflict(
                    &def,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                    ),
                ));
            }
        }
        // batch/v1 Jobs default to orphaning their pods (their GC policy), with a warning.
        let (policy, warning) = match opts.propagation {
            Some(p) => (p, None),
            None if def.group == "batch" && def.plural == "jobs" => {
                (Propagation::Orphan, Some(JOB_ORPHAN_WARNING.to_string()))
            }
            None => (Propagation::Background, None),
        };
        if opts.dry_run {
            return Ok(DeleteOutcome {
                deleted: Deleted::Now(self.present(res, current)),
                warning,
            });
        }
        let uid = meta["uid"].as_str().unwrap_or("").to_string();
        let mut finalizers: Vec<Value> = meta["finalizers"].as_array().cloned().unwrap_or_default();
        let dependents = self.dependents(&txn, ns, &uid);
        if policy == Propagation::Foreground && !dependents.is_empty() {
            finalizers.push(json!("foregroundDeletion"));
        }
        if policy == Propagation::Orphan && !dependents.is_empty() {
            self.orphan(&mut txn, &dependents, &uid);
        }

        if def.plural == "namespaces" && def.group.is_empty() {
            // Simplified namespace lifecycle: the content goes first, finalizers notwithstanding.
            self.empty_namespace(&mut txn, name);
        }
        let deleted = if finalizers.is_empty() {
            let gone = txn.remove(storage, ns, name).expect("exists");
            Deleted::Now(gone)
        } else if meta["deletionTimestamp"].is_string() {
            Deleted::Pending(current.clone())
        } else {
            let mut marked = current.value.clone();
            marked["metadata"]["deletionTimestamp"] = json!(self.clock.rfc3339());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            marked["metadata"]["finalizers"] = Value::Array(finalizers);
            if let Some(g) = marked["metadata"]["generation"].as_i64() {
                marked["metadata"]["generation"] = json!(g + 1);
            }
            Deleted::Pending(txn.put(storage, marked))
        };
        if policy != Propagation::Orphan {
            self.collect(&mut txn, dependents);
        }
        // Foreground: with its dependents gone, the owner's own finalizer is removed.
        let deleted = match deleted {
            Deleted::Pending(obj) if policy == Propagation::Foreground => {
                let mut v = obj.value.clone();
                if let Some(f) = v["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|x| x != "foregroundDeletion");
                }
                if v["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.is_empty())
                {
                    txn.put(storage, v);
                    Deleted::Now(txn.remove(storage, ns, name).expect("exists"))
                } else {
                    Deleted::Pending(txn.put(storage, v))
                }
            }
            other => other,
        };
        if def.plural == "pods" && def.group.is_empty() {
            drop(txn);
            self.store.remove_log(ns, name);
        }
        let deleted = match deleted {
            Deleted::Now(o) => Deleted::Now(self.present(res, o)),
            Deleted::Pending(o) => Deleted::Pending(self.present(res, o)),
        };
        Ok(DeleteOutcome { deleted, warning })
    }

    /// Objects in `ns` with an ownerReference to `uid`.
    fn dependents(&self, txn: &Txn<'_>, ns: &str, uid: &str) -> Vec<(ResourceId, Arc<Stored>)> {
        if uid.is_empty() {
            return vec![];
        }
        let mut out = vec![];
        for res in self
            .registry
            .ids()
            .filter(|&r| self.registry.storage(r) == r)
        {
            let scope = if self.def(res).namespaced {
                Some(ns)
            } else {
                None
            };
            for obj in txn.list(res, scope) {
                let owned = obj.value["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid));
                if owned {
                    out.push((res, obj));
                }
            }
        }
        out
    }

    fn orphan(&self, txn: &mut Txn<'_>, dependents: &[(ResourceId, Arc<Stored>)], uid: &str) {
        for (res, obj) in dependents {
            let mut v = obj.value.clone();
            if let Some(refs) = v["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != uid);
            }
            if v["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.is_empty())
                && let Some(m) = v["metadata"].as_object_mut()
            {
                m.remove("ownerReferences");
            }
            txn.put(*res, v);
        }
    }

    /// The garbage collector, run at once: dependents go, recursively.
    fn collect(&self, txn: &mut Txn<'_>, dependents: Vec<(ResourceId, Arc<Stored>)>) {
        let mut queue = dependents;
        while let Some((res, obj)) = queue.pop() {
            let (ns, name) = (obj.namespace().to_string(), obj.name().to_string());
            let uid = obj.value["metadata"]["uid"]
                .as_str()
                .unwrap_or("")
                .to_string();
            queue.extend(self.dependents(txn, &ns, &uid));
            if txn.get(res, &ns, &name).is_some() {
                txn.remove(res, &ns, &name);
            }
        }
    }

    fn empty_namespace(&self, txn: &mut Txn<'_>, ns: &str) {
        for res in self
            .registry
            .ids()
            .filter(|&r| self.registry.storage(r) == r && self.def(r).namespaced)
        {
            for obj in txn.list(res, Some(ns)) {
                txn.remove(res, ns, obj.name());
            }
        }
    }
}

fn encode_continue(rv: u64, key: &str) -> String {
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": format!("{key}\u{0}") });
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let start = v["start"]
        .as_str()
        .ok_or_else(bad)?
        .trim_end_matches('\u{0}')
        .to_string();
    Ok((rv, start))
}

/// Built-ins bump their generation on spec changes; custom resources on any
/// change outside metadata and status.
fn spec_changed(def: &ResourceDef, old: &Value, new: &Value) -> bool {
    if def.custom {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("metadata");
                m.remove("status");
            }
            v
        };
        strip(old) != strip(new)
    } else {
        old.get("spec") != new.get("spec")
    }
}

fn strip_nulls_in_metadata(v: &mut Value) {
    if let Some(m) = v["metadata"].as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
}

/// The defaults kube-apiserver fills in on create.
fn default_object(def: &ResourceDef, obj: &mut Value) {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let set = |v: &mut Value, key: &str, default: Value| {
        if v.get(key).is_none_or(Value::is_null) {
            v[key] = default;
        }
    };
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => {
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            set(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
            set(&mut obj["status"], "phase", json!("Active"));
        }
        ("", "pods") => {
            let spec = &mut obj["spec"];
            set(spec, "restartPolicy", json!("Always"));
            set(spec, "terminationGracePeriodSeconds", json!(30));
            set(spec, "dnsPolicy", json!("ClusterFirst"));
            set(spec, "schedulerName", json!("default-scheduler"));
            set(&mut obj["status"], "phase", json!("Pending"));
        }
        ("batch", "jobs") => {
            let spec = &mut obj["spec"];
            set(spec, "parallelism", json!(1));
            set(spec, "completions", json!(1));
            set(spec, "backoffLimit", json!(6));
            set(spec, "completionMode", json!("NonIndexed"));
            set(spec, "suspend", json!(false));
            set(spec, "manualSelector", json!(false));
            set(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            if spec["selector"].is_null() && !uid.is_empty() {
                spec["selector"] =
                    json!({ "matchLabels": { "batch.kubernetes.io/controller-uid": uid } });
                let labels = &mut spec["template"]["metadata"]["labels"];
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", &uid),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", &uid),
                    ("job-name", &name),
                ] {
                    labels[k] = json!(v);
                }
            }
            if obj.get("status").is_none() {
                obj["status"] = json!({});
            }
        }
        ("apps", "deployments") => {
            let spec = &mut obj["spec"];
            set(spec, "replicas", json!(1));
            set(spec, "revisionHistoryLimit", json!(10));
            set(spec, "progressDeadlineSeconds", json!(600));
            set(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            if obj.get("status").is_none() {
                obj["status"] = json!({});
            }
        }
        _ => {}
    }
}

/// Validation the sandbox enforces; Jobs' immutable fields above all.
fn validate(def: &ResourceDef, old: Option<&Value>, new: &Value) -> Result<(), ApiError> {
    if def.group != "batch" || def.plural != "jobs" {
        return Ok(());
    }
    let name = new["metadata"]["name"].as_str().unwrap_or("");
    let mut causes = vec![];
    let restart = &new["spec"]["template"]["spec"]["restartPolicy"];
    if restart != "Never" && restart != "OnFailure" {
        causes.push(match restart.as_str() {
            Some(v) => (
                "spec.template.spec.restartPolicy".to_string(),
                format!("Unsupported value: \"{v}\": supported values: \"OnFailure\", \"Never\""),
            ),
            None => (
                "spec.template.spec.restartPolicy".to_string(),
                "Required value: valid values: \"OnFailure\", \"Never\"".to_string(),
            ),
        });
    }
    if let Some(old) = old {
        for (field, go_type) in [
            ("selector", "v1.LabelSelector"),
            ("template", "core.PodTemplateSpec"),
            ("completions", ""),
            ("completionMode", ""),
        ] {
            if old["spec"][field] != new["spec"][field] {
                causes.push((
                    format!("spec.{field}"),
                    format!(
                        "Invalid value: {}: field is immutable",
                        go_value(go_type, &new["spec"][field])
                    ),
                ));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(def, name, &causes))
    }
}

/// A value rendered the way Go's `%#v` shows it in apiserver messages (abridged):
/// struct fields capitalized, map keys quoted.
fn go_value(go_type: &str, v: &Value) -> String {
    fn is_field(k: &str) -> bool {
        k.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && k.chars().all(|c| c.is_ascii_alphanumeric())
    }
    fn inner(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let fields: Vec<String> = m
                    .iter()
                    .map(|(k, v)| match k.as_str() {
                        "metadata" => format!("ObjectMeta:{}", inner(v)),
                        k if is_field(k) => {
                            format!("{}{}:{}", k[..1].to_ascii_uppercase(), &k[1..], inner(v))
                        }
                        k => format!("{k:?}:{}", inner(v)),
                    })
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            Value::Array(a) => format!("[{}]", a.iter().map(inner).collect::<Vec<_>>().join(", ")),
            Value::String(s) => format!("{s:?}"),
            Value::Null => "nil".into(),
            other => other.to_string(),
        }
    }
    if go_type.is_empty() {
        inner(v)
    } else {
        format!("{go_type}{}", inner(v))
    }
}

/// `events.k8s.io/v1` view of a stored core/v1 Event.
pub fn event_from_core(core: &Value) -> Value {
    let mut e = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": core["metadata"],
        "eventTime": core.get("eventTime").cloned().unwrap_or(Value::Null),
        "reason": core["reason"],
        "note": core["message"],
        "type": core["type"],
        "regarding": core["involvedObject"],
        "reportingController": core.get("reportingComponent").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).unwrap_or(&core["source"]["component"]),
        "reportingInstance": core.get("reportingInstance").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).unwrap_or(&core["source"]["host"]),
        "action": core["action"],
        "deprecatedSource": core["source"],
        "deprecatedFirstTimestamp": core["firstTimestamp"],
        "deprecatedLastTimestamp": core["lastTimestamp"],
        "deprecatedCount": core["count"],
    });
    if let Some(m) = e.as_object_mut() {
        m.retain(|k, v| !v.is_null() || k == "eventTime");
    }
    e
}

/// The core/v1 Event stored for an `events.k8s.io/v1` one.
pub fn event_to_core(ev: &Value) -> Value {
    if ev["apiVersion"] != "events.k8s.io/v1" {
        return ev.clone();
    }
    let mut c = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": ev["metadata"],
        "involvedObject": ev["regarding"],
        "reason": ev["reason"],
        "message": ev["note"],
        "type": ev["type"],
        "eventTime": ev["eventTime"],
        "reportingComponent": ev["reportingController"],
        "reportingInstance": ev["reportingInstance"],
        "action": ev["action"],
        "source": ev["deprecatedSource"],
        "firstTimestamp": ev["deprecatedFirstTimestamp"],
        "lastTimestamp": ev["deprecatedLastTimestamp"],
        "count": ev["deprecatedCount"],
    });
    if let Some(m) = c.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    c
}
