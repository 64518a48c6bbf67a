//! source-controller: each repository's head revision as its source's
//! artifact, on its interval or a `requestedAt` request; commits pushed by tests.

use super::*;

impl Sim {
    pub(super) fn is_source(&self, res: ResourceId) -> bool {
        self.sh.api.def(res).group == "source.toolkit.fluxcd.io"
    }

    // ---- source-controller ------------------------------------------------------

    fn repo_head(&self, kind: &str, ns: &str, name: &str) -> Option<String> {
        let repos = Self::lock(&self.repos);
        repos
            .iter()
            .find(|r| r.kind == kind && r.namespace == ns && r.name == name)
            .and_then(|r| r.revision.clone())
    }

    pub(super) fn source_changed(
        self: &Arc<Self>,
        res: ResourceId,
        obj: &Value,
        old: Option<&Value>,
    ) {
        let token = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].as_str();
        if token.is_some() && token != obj["status"]["lastHandledReconcileAt"].as_str() {
            let (s, key, token) = (self.clone(), key_of(obj), token.map(String::from));
            tokio::spawn(async move { s.fetch_source(res, &key, token).await });
        }
        // A new artifact wakes the Kustomizations built from it (Flux watches sources).
        let rev = obj["status"]["artifact"]["revision"].as_str();
        if old.is_some_and(|o| o["status"]["artifact"]["revision"].as_str() != rev) {
            let kind = self.sh.api.def(res).kind.clone();
            let (ns, name) = key_of(obj);
            let (all, _) = self.sh.api.store.list(self.ids.ks, None);
            for ks in all {
                let r = &ks.value["spec"]["sourceRef"];
                let sns = r["namespace"].as_str().unwrap_or(ks.namespace());
                if r["kind"] == kind.as_str() && r["name"] == name.as_str() && sns == ns {
                    self.ensure_worker(key_of(&ks.value), true);
                }
            }
        }
    }

    /// One source-controller reconcile: serve the head revision, handle the token.
    async fn fetch_source(&self, res: ResourceId, key: &Key, token: Option<String>) {
        self.sh.api.clock.sleep(Duration::from_millis(500)).await;
        let Some(current) = self.sh.api.store.get(res, &key.0, &key.1) else {
            return;
        };
        let kind = self.sh.api.def(res).kind.clone();
        let now = self.sh.api.clock.rfc3339();
        let mut status = current.value["status"].clone();
        if let Some(head) = self.repo_head(&kind, &key.0, &key.1)
            && status["artifact"]["revision"].as_str() != Some(head.as_str())
        {
            let sha = head.rsplit(':').next().unwrap_or("").to_string();
            status["artifact"]["revision"] = json!(head);
            status["artifact"]["lastUpdateTime"] = json!(now);
            status["artifact"]["path"] = json!(format!(
                "{}/{}/{}/{sha}.tar.gz",
                kind.to_lowercase(),
                key.0,
                key.1
            ));
            let generation = current.value["metadata"]["generation"]
                .as_i64()
                .unwrap_or(1);
            let conds = conditions(&mut status);
            let msg = format!("stored artifact for revision '{head}'");
            set_condition(conds, "Ready", "True", "Succeeded", &msg, generation, &now);
            set_condition(
                conds,
                "ArtifactInStorage",
                "True",
                "Succeeded",
                &msg,
                generation,
                &now,
            );
            self.event(&current.value, "Normal", "NewArtifact", &msg, SC);
        }
        if let Some(t) = token {
            status["lastHandledReconcileAt"] = json!(t);
        }
        self.write_status(res, key, status, SC);
    }

    /// Commits to a repository: image tags replaced in every manifest; returns
    /// the new revision. Like source-controller, the sandbox sees the commit at
    /// the source's next fetch, one `spec.interval` later, unless a reconcile
    /// request fetches it sooner.
    pub fn push(
        self: &Arc<Self>,
        kind: &str,
        ns: &str,
        name: &str,
        image: &str,
    ) -> Result<String, String> {
        let revision = self.commit(kind, ns, name, image)?;
        let api = &self.sh.api;
        if let Some(res) = api.registry.find_kind("source.toolkit.fluxcd.io/v1", kind)
            && let Some(source) = api.store.get(res, ns, name)
        {
            let interval = source.value["spec"]["interval"]
                .as_str()
                .and_then(parse_duration)
                .unwrap_or(Duration::from_secs(60));
            let (sim, key) = (self.clone(), (ns.to_string(), name.to_string()));
            tokio::spawn(async move {
                sim.sh.api.clock.sleep(interval).await;
                sim.fetch_source(res, &key, None).await;
            });
        }
        Ok(revision)
    }

    fn commit(&self, kind: &str, ns: &str, name: &str, image: &str) -> Result<String, String> {
        let (repo_image, _) = image
            .rsplit_once(':')
            .ok_or("the image needs a tag (name:tag)")?;
        let n = {
            let mut c = Self::lock(&self.pushes);
            *c += 1;
            *c
        };
        // A commit id: 40 hex digits, different for every push.
        let sha: String = (0..5)
            .map(|i| format!("{:08x}", hash(&(n, i, ns, name)) as u32))
            .collect();
        let mut repos = Self::lock(&self.repos);
        let repo = repos
            .iter_mut()
            .find(|r| r.kind == kind && r.namespace == ns && r.name == name)
            .ok_or_else(|| format!("no simulated repository {kind}/{ns}/{name}"))?;
        let branch = repo
            .revision
            .as_deref()
            .and_then(|r| r.split('@').next())
            .unwrap_or("main")
            .to_string();
        fn retag(v: &mut Value, repo_image: &str, image: &str) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m.iter_mut() {
                        if k == "image"
                            && child.as_str().is_some_and(|s| {
                                s.rsplit_once(':').map_or(s, |(r, _)| r) == repo_image
                            })
                        {
                            *child = json!(image);
                        } else {
                            retag(child, repo_image, image);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|c| retag(c, repo_image, image)),
                _ => {}
            }
        }
        for objects in repo.manifests.values_mut() {
            objects.iter_mut().for_each(|o| retag(o, repo_image, image));
        }
        let revision = format!("{branch}@sha1:{sha}");
        repo.revision = Some(revision.clone());
        let commit = (
            kind.to_string(),
            ns.to_string(),
            name.to_string(),
            revision.clone(),
        );
        Self::lock(&self.commits).insert(commit, repo.manifests.clone());
        Ok(revision)
    }

    /// The environment a Job needed is repaired: its next runs follow their outcomes.
    pub fn fix_job(&self, ns: &str, name: &str) -> Result<(), String> {
        let mut scripts = Self::lock(&self.scripts);
        let script = scripts
            .iter_mut()
            .find(|s| s.namespace == ns && s.name == name)
            .ok_or_else(|| format!("no job script for {ns}/{name}"))?;
        script.broken = false;
        script.outcomes = vec!["succeed".into()];
        Ok(())
    }

    // ---- kustomize-controller -----------------------------------------------------
}
