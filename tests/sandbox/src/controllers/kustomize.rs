//! kustomize-controller: dependsOn, server-side apply of the path's
//! manifests, force, prune, inventory, `wait` health checks, conditions,
//! revisions and Events, with kustomize-controller v1.9's messages.

use super::*;

impl Sim {
    /// One reconcile; returns when to run again, or `None` once the object is gone.
    pub(super) async fn reconcile(&self, key: &Key) -> Option<Duration> {
        let api = &self.sh.api;
        let ks = api.store.get(self.ids.ks, &key.0, &key.1)?.value.clone();
        if ks["metadata"]["deletionTimestamp"].is_string() {
            self.finalize(key);
            return None;
        }
        let started = api.clock.now();
        let token = ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
            .as_str()
            .map(String::from);
        let generation = ks["metadata"]["generation"].as_i64().unwrap_or(1);
        let interval = ks["spec"]["interval"]
            .as_str()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(600));
        let mut status = ks["status"].clone();
        if !status.is_object() {
            status = json!({});
        }
        if let Some(t) = &token {
            status["lastHandledReconcileAt"] = json!(t);
        }
        if ks["spec"]["suspend"] == true {
            self.write_status(self.ids.ks, key, status, KC);
            return Some(interval);
        }
        let src_ref = &ks["spec"]["sourceRef"];
        let src_kind = src_ref["kind"]
            .as_str()
            .unwrap_or("GitRepository")
            .to_string();
        let src_ns = src_ref["namespace"].as_str().unwrap_or(&key.0).to_string();
        let src_name = src_ref["name"].as_str().unwrap_or("").to_string();
        let source = api
            .registry
            .find_kind("source.toolkit.fluxcd.io/v1", &src_kind)
            .and_then(|r| api.store.get(r, &src_ns, &src_name));
        let revision = source.as_ref().and_then(|s| {
            s.value["status"]["artifact"]["revision"]
                .as_str()
                .map(String::from)
        });
        let Some(revision) = revision else {
            let msg = match source {
                None => format!("Source '{src_kind}/{src_ns}/{src_name}' not found"),
                Some(_) => "Source is not ready, artifact not found".to_string(),
            };
            return Some(self.finish_failed(
                key,
                &mut status,
                generation,
                "ArtifactFailed",
                &msg,
                None,
                interval,
            ));
        };

        // dependsOn
        for dep in ks["spec"]["dependsOn"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let msg =
                self.dependency_not_ready(&dep, key, (&src_kind, &src_ns, &src_name), &revision);
            if let Some(msg) = msg {
                let conds = conditions(&mut status);
                let now = api.clock.rfc3339();
                set_condition(
                    conds,
                    "Ready",
                    "False",
                    "DependencyNotReady",
                    &msg,
                    generation,
                    &now,
                );
                remove_condition(conds, "Reconciling");
                self.write_status(self.ids.ks, key, status, KC);
                self.event(&ks, "Normal", "DependencyNotReady", &msg, KC);
                return Some(self.timing.requeue_dependency);
            }
        }

        // kustomize-controller's reconcile(), once the dependencies are ready: the
        // flap every reconcile shows, even when nothing changes, then the fetch.
        let timeout_text = go_duration(
            ks["spec"]["timeout"]
                .as_str()
                .and_then(parse_duration)
                .unwrap_or(interval),
        );
        let conds = conditions(&mut status);
        let now = api.clock.rfc3339();
        mark_progressing(conds, "Reconciliation in progress", generation, &now);
        set_reconciling(
            conds,
            &format!("Fetching manifests for revision {revision} with a timeout of {timeout_text}"),
            generation,
            &now,
        );
        self.write_status(self.ids.ks, key, status.clone(), KC);
        api.clock.sleep(Duration::from_millis(200)).await;

        // Build: the path's manifests at this revision.
        let path = ks["spec"]["path"].as_str().unwrap_or("./").to_string();
        // The manifests of the fetched revision (of the branch head when unknown).
        let manifests = {
            let commit = (
                src_kind.clone(),
                src_ns.clone(),
                src_name.clone(),
                revision.clone(),
            );
            let at_revision = Self::lock(&self.commits).get(&commit).cloned();
            let tree = at_revision.or_else(|| {
                let repos = Self::lock(&self.repos);
                repos
                    .iter()
                    .find(|r| r.kind == src_kind && r.namespace == src_ns && r.name == src_name)
                    .map(|r| r.manifests.clone())
            });
            tree.and_then(|t| {
                t.get(&path)
                    .or_else(|| t.get(path.trim_end_matches('/')))
                    .cloned()
            })
        };
        let Some(manifests) = manifests else {
            let msg = format!(
                "kustomization path not found: stat /tmp/kustomization/{}: no such file or directory",
                path.trim_start_matches("./")
            );
            return Some(self.finish_failed(
                key,
                &mut status,
                generation,
                "BuildFailed",
                &msg,
                Some(&revision),
                interval,
            ));
        };
        // The real controller records the attempt before it applies anything: for
        // a moment the old objects (a failed Job about to be re-created) stand
        // beside an attempted revision they were not made by.
        status["lastAttemptedRevision"] = json!(revision);
        let conds = conditions(&mut status);
        let now = api.clock.rfc3339();
        set_reconciling(
            conds,
            &format!("Building manifests for revision {revision} with a timeout of {timeout_text}"),
            generation,
            &now,
        );
        self.write_status(self.ids.ks, key, status.clone(), KC);
        api.clock.sleep(Duration::from_millis(200)).await;
        let force_all = ks["spec"]["force"] == true;
        let target_ns = ks["spec"]["targetNamespace"].as_str().map(String::from);
        let mut entries = vec![];
        let mut applied: Vec<(ResourceId, Key, String)> = vec![];
        let mut changes = vec![];
        for mut obj in manifests {
            let Some(res) = api.registry.find_kind(
                obj["apiVersion"].as_str().unwrap_or(""),
                obj["kind"].as_str().unwrap_or(""),
            ) else {
                continue;
            };
            let def = api.def(res).clone();
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            let ns = if def.namespaced {
                let ns = target_ns
                    .clone()
                    .or_else(|| obj["metadata"]["namespace"].as_str().map(String::from));
                // Flux does not default a namespace: the apply fails (seen on real Flux
                // with the guide's manifests, which have none and no targetNamespace).
                let Some(ns) = ns.filter(|n| !n.is_empty()) else {
                    let msg = format!(
                        // Real Flux ends its apply errors with a newline.
                        "{}/{name} namespace not specified: the server could not find the requested resource\n",
                        def.kind
                    );
                    return Some(self.finish_failed(
                        key,
                        &mut status,
                        generation,
                        "ReconciliationFailed",
                        &msg,
                        Some(&revision),
                        interval,
                    ));
                };
                ns
            } else {
                String::new()
            };
            if def.namespaced {
                obj["metadata"]["namespace"] = json!(ns);
            }
            obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = json!(key.1);
            obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] = json!(key.0);
            let id = format!("{ns}_{name}_{}_{}", def.group, def.kind);
            let what = format!(
                "{}/{}{name}",
                def.kind,
                if ns.is_empty() {
                    String::new()
                } else {
                    format!("{ns}/")
                }
            );
            let forced = force_all
                || obj["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled";
            match self.apply_object(res, &ns, &name, &what, &obj, forced) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(msg) => {
                    return Some(self.finish_failed(
                        key,
                        &mut status,
                        generation,
                        "ReconciliationFailed",
                        &msg,
                        Some(&revision),
                        interval,
                    ));
                }
            }
            entries.push(json!({ "id": id, "v": def.version }));
            applied.push((res, (ns, name), what));
        }
        if !changes.is_empty() {
            self.event(&ks, "Normal", "Progressing", &changes.join("\n"), KC);
        }
        // Prune what the previous inventory had and this one does not.
        if ks["spec"]["prune"] == true {
            for old in status["inventory"]["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if entries.iter().any(|e| e["id"] == old["id"]) {
                    continue;
                }
                let id = old["id"].as_str().unwrap_or("");
                let parts: Vec<&str> = id.splitn(2, '_').collect();
                if let (Some(ns), Some(rest)) = (parts.first(), parts.get(1))
                    && let Some((rest, kind)) = rest.rsplit_once('_')
                    && let Some((name, group)) = rest.rsplit_once('_')
                {
                    let api_version = if group.is_empty() {
                        old["v"].as_str().unwrap_or("v1").to_string()
                    } else {
                        format!("{group}/{}", old["v"].as_str().unwrap_or("v1"))
                    };
                    if let Some(res) = api.registry.find_kind(&api_version, kind) {
                        let _ = api.delete(
                            res,
                            ns,
                            name,
                            &DeleteOptions {
                                propagation: Some(Propagation::Background),
                                ..Default::default()
                            },
                        );
                    }
                }
            }
        }
        status["inventory"] = json!({ "entries": entries });
        status["lastAttemptedRevision"] = json!(revision);

        // Health checks.
        if ks["spec"]["wait"] == true {
            let timeout = ks["spec"]["timeout"]
                .as_str()
                .and_then(parse_duration)
                .unwrap_or(interval);
            let conds = conditions(&mut status);
            let now = api.clock.rfc3339();
            let msg = format!(
                "Running health checks for revision {revision} with a timeout of {}",
                go_duration(timeout)
            );
            set_reconciling(conds, &msg, generation, &now);
            set_condition(
                conds,
                "Healthy",
                "Unknown",
                "Progressing",
                &msg,
                generation,
                &now,
            );
            self.write_status(self.ids.ks, key, status.clone(), KC);
            let check_started = api.clock.now();
            match self.health(&applied, timeout).await {
                Ok(()) => {
                    let took = api.clock.now().duration_since(check_started);
                    let conds = conditions(&mut status);
                    let now = api.clock.rfc3339();
                    let msg = format!(
                        "Health check passed in {}",
                        go_duration(Duration::from_secs_f64(took.as_secs_f64().max(0.0)))
                    );
                    set_condition(
                        conds,
                        "Healthy",
                        "True",
                        "Succeeded",
                        &msg,
                        generation,
                        &now,
                    );
                }
                Err(failure) => {
                    let took = api.clock.now().duration_since(check_started);
                    let took = go_duration(Duration::from_secs_f64(took.as_secs_f64().max(0.0)));
                    let (ready_msg, healthy_msg) = match failure {
                        Health::Failed(objs) => {
                            let m = format!(
                                "failed early due to stalled resources: [{}]",
                                objs.join(" ")
                            );
                            (format!("health check failed after {took}: {m}"), m)
                        }
                        Health::Timeout(objs) => {
                            let m = format!("timeout waiting for: [{}]", objs.join(" "));
                            (format!("health check failed after {took}: {m}"), m)
                        }
                    };
                    let conds = conditions(&mut status);
                    let now = api.clock.rfc3339();
                    set_condition(
                        conds,
                        "Healthy",
                        "False",
                        "HealthCheckFailed",
                        &healthy_msg,
                        generation,
                        &now,
                    );
                    return Some(self.finish_failed(
                        key,
                        &mut status,
                        generation,
                        "HealthCheckFailed",
                        &ready_msg,
                        Some(&revision),
                        interval,
                    ));
                }
            }
        }

        // Success.
        let fresh = api.store.get(self.ids.ks, &key.0, &key.1)?;
        let conds = conditions(&mut status);
        let now = api.clock.rfc3339();
        set_condition(
            conds,
            "Ready",
            "True",
            "ReconciliationSucceeded",
            &format!("Applied revision: {revision}"),
            generation,
            &now,
        );
        remove_condition(conds, "Reconciling");
        remove_condition(conds, "Stalled");
        status["lastAppliedRevision"] = json!(revision);
        status["observedGeneration"] = json!(generation);
        self.write_status(self.ids.ks, key, status, KC);
        let took = api.clock.now().duration_since(started);
        self.event(
            &fresh.value,
            "Normal",
            "ReconciliationSucceeded",
            &format!(
                "Reconciliation finished in {}, next run in {}",
                go_duration(Duration::from_secs_f64(took.as_secs_f64().max(0.0))),
                go_duration(interval)
            ),
            KC,
        );
        Some(interval)
    }

    /// Finalizes a deleted Kustomization: drops our finalizer so the deletion completes.
    fn finalize(&self, key: &Key) {
        let body = json!({"metadata": {"finalizers": null}}).to_string();
        let _ = self.sh.api.patch(
            self.ids.ks,
            &key.0,
            &key.1,
            PatchType::Merge,
            body.as_bytes(),
            false,
            &WriteOptions {
                manager: KC.into(),
                ..Default::default()
            },
        );
    }

    /// Why a dependency holds the stage back, in kustomize-controller's words
    /// (missing, not ready, or behind on the same source); `None` when ready.
    fn dependency_not_ready(
        &self,
        dep: &Value,
        key: &Key,
        (src_kind, src_ns, src_name): (&str, &str, &str),
        revision: &str,
    ) -> Option<String> {
        let api = &self.sh.api;
        let dns = dep["namespace"].as_str().unwrap_or(&key.0).to_string();
        let dname = dep["name"].as_str().unwrap_or("").to_string();
        match api.store.get(self.ids.ks, &dns, &dname) {
            None => Some(format!(
                "dependency '{dns}/{dname}' not found: Kustomization.kustomize.toolkit.fluxcd.io \"{dname}\" not found"
            )),
            Some(d) => {
                let d = &d.value;
                let g = d["metadata"]["generation"].as_i64();
                let ready = d["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Ready"
                            && c["status"] == "True"
                            && c["observedGeneration"].as_i64() == g
                    })
                }) && d["status"]["observedGeneration"].as_i64() == g;
                let same_source = d["spec"]["sourceRef"]["kind"] == src_kind
                    && d["spec"]["sourceRef"]["name"] == src_name
                    && d["spec"]["sourceRef"]["namespace"].as_str().unwrap_or(&dns) == src_ns;
                if !ready {
                    Some(format!("dependency '{dns}/{dname}' is not ready"))
                } else if same_source
                    && d["status"]["lastAppliedRevision"].as_str() != Some(revision)
                {
                    Some(format!(
                        "dependency '{dns}/{dname}' revision is not up to date"
                    ))
                } else {
                    None
                }
            }
        }
    }

    /// Applies one object as kustomize-controller does (server-side apply,
    /// forced ownership); a Job whose immutable template changed is deleted and
    /// created again when `forced`, and is a dry-run failure otherwise.
    /// Returns the change to report, if any, or the failure message.
    fn apply_object(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        what: &str,
        obj: &Value,
        forced: bool,
    ) -> Result<Option<String>, String> {
        let api = &self.sh.api;
        let existed = api.store.get(res, ns, name);
        let body = obj.to_string();
        let opts = WriteOptions {
            manager: KC.into(),
            ..Default::default()
        };
        match api.patch(
            res,
            ns,
            name,
            PatchType::Apply,
            body.as_bytes(),
            true,
            &opts,
        ) {
            Ok(after) => Ok(match &existed {
                None => Some(format!("{what} created")),
                Some(before) if before.resource_version() != after.resource_version() => {
                    Some(format!("{what} configured"))
                }
                Some(_) => None,
            }),
            Err(e) if e.code == 422 && forced => {
                // In the sandbox a Background deletion is complete when it returns.
                let background = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                let _ = api.delete(res, ns, name, &background);
                api.patch(
                    res,
                    ns,
                    name,
                    PatchType::Apply,
                    body.as_bytes(),
                    true,
                    &opts,
                )
                .map(|_| Some(format!("{what} created")))
                .map_err(|e| format!("{what} apply failed ({}): {}", e.reason, e.message))
            }
            Err(e) if e.code == 422 => Err(format!(
                "{what} dry-run failed ({}): {}",
                e.reason, e.message
            )),
            Err(e) => Err(format!("{what} apply failed ({}): {}", e.reason, e.message)),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the status fields a failure writes"
    )]
    fn finish_failed(
        &self,
        key: &Key,
        status: &mut Value,
        generation: i64,
        reason: &str,
        message: &str,
        attempted: Option<&str>,
        interval: Duration,
    ) -> Duration {
        let now = self.sh.api.clock.rfc3339();
        let conds = conditions(status);
        set_condition(conds, "Ready", "False", reason, message, generation, &now);
        let retrying = conds
            .iter()
            .find(|c| c["type"] == "Reconciling")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("Reconciliation in progress")
            .to_string();
        set_condition(
            conds,
            "Reconciling",
            "True",
            "ProgressingWithRetry",
            &retrying,
            generation,
            &now,
        );
        if let Some(rev) = attempted {
            status["lastAttemptedRevision"] = json!(rev);
        }
        status["observedGeneration"] = json!(generation);
        self.write_status(self.ids.ks, key, status.clone(), KC);
        if let Some(ks) = self.sh.api.store.get(self.ids.ks, &key.0, &key.1) {
            self.event(&ks.value, "Warning", reason, message, KC);
        }
        interval
    }

    /// Waits until every applied object is healthy; fails fast on a failed Job.
    async fn health(
        &self,
        applied: &[(ResourceId, Key, String)],
        timeout: Duration,
    ) -> Result<(), Health> {
        let api = &self.sh.api;
        let mut changes = api.store.subscribe();
        let deadline = tokio::time::Instant::now() + api.clock.real(timeout);
        loop {
            let mut failed = vec![];
            let mut pending = vec![];
            for (res, (ns, name), what) in applied {
                let obj = api.store.get(*res, ns, name);
                let state = match obj {
                    None => "NotFound",
                    Some(o) => object_health(
                        *res == self.ids.jobs,
                        *res == self.ids.deployments,
                        &o.value,
                    ),
                };
                match state {
                    "Current" => {}
                    "Failed" => failed.push(format!("{what} status: 'Failed'")),
                    s => pending.push(format!("{what} status: '{s}'")),
                }
            }
            if !failed.is_empty() {
                return Err(Health::Failed(failed));
            }
            if pending.is_empty() {
                return Ok(());
            }
            tokio::select! {
                _ = changes.recv() => {}
                _ = tokio::time::sleep_until(deadline) => return Err(Health::Timeout(pending)),
            }
        }
    }

    // ---- Deployments ----------------------------------------------------------------
}

enum Health {
    Failed(Vec<String>),
    Timeout(Vec<String>),
}

/// kstatus-like health as Flux's readers see it: Current, InProgress or Failed.
fn object_health(is_job: bool, is_deployment: bool, obj: &Value) -> &'static str {
    let conds = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let is_true = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if is_job {
        if obj["spec"]["suspend"] == true || is_true("Complete") {
            return "Current";
        }
        if is_true("Failed") {
            return "Failed";
        }
        return "InProgress";
    }
    if is_deployment {
        let g = obj["metadata"]["generation"].as_i64();
        let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
        let ok = obj["status"]["observedGeneration"].as_i64() == g
            && obj["status"]["availableReplicas"].as_i64().unwrap_or(0) >= want;
        return if ok { "Current" } else { "InProgress" };
    }
    "Current"
}
