//! jobgate-sandbox: a fake Kubernetes API server that the real `kubectl`,
//! kube-rs and `kubectl-jobgate` accept, serving Flux's resources from memory.
//!
//! Layers, each depending only on those above it:
//! - `resources`: what is served (built-ins, and Flux's real CRDs);
//! - `store`: objects, resourceVersions, change history and notifications;
//! - `apiserver`: API semantics (defaulting, generation, status, patches,
//!   ownership, preconditions, finalizers, garbage collection);
//! - `errors`, `selectors`, `patch`, `table`, `discovery`: pieces of the above;
//! - `server`: HTTP (auth, faults, routing, watches, logs, control endpoint);
//! - this file: starting and stopping a sandbox, and its kubeconfig.
//!
//! The simulated controllers (`controllers`: source, kustomize, Job) run on
//! [`ApiServer`] directly, with the same verbs and notifications the HTTP side uses.

pub mod apiserver;
pub mod clock;
pub mod controllers;
pub mod discovery;
pub mod errors;
pub mod faults;
pub mod patch;
pub mod resources;
pub mod scenario;
pub mod selectors;
pub mod server;
pub mod store;
pub mod table;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use apiserver::ApiServer;
pub use faults::Fault;
pub use scenario::Scenario;
pub use server::RequestRecord;

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The bearer token; random when `None`.
    pub token: Option<String>,
    /// Who the token authenticates as (shown in 403 messages).
    pub user: String,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Simulated time at start; now when `None`.
    pub start_time: Option<jiff::Timestamp>,
    /// Changes kept for watch resumption; older resourceVersions get 410 Gone.
    pub history: usize,
    /// How often open watches that allow bookmarks receive one.
    pub bookmark_interval: Duration,
    /// Where to write the kubeconfig; a fresh temporary directory when `None`.
    pub kubeconfig_out: Option<PathBuf>,
    /// Run the simulated controllers when the scenario has a simulation.
    pub controllers: bool,
    /// The controllers' delays (simulated time).
    pub timing: controllers::Timing,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plain_http: false,
            port: 0,
            token: None,
            user: "sandbox-admin".into(),
            speed: 1.0,
            start_time: None,
            history: 10_000,
            bookmark_interval: Duration::from_secs(60),
            kubeconfig_out: None,
            controllers: true,
            timing: controllers::Timing::default(),
        }
    }
}

/// A running sandbox. Dropping it stops the server and removes its temporary files.
pub struct Sandbox {
    shared: Arc<server::Shared>,
    url: String,
    kubeconfig: PathBuf,
    temp_dir: Option<PathBuf>,
    ca_pem: Option<String>,
    namespace: String,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Sandbox {
    /// Starts a sandbox on a free port with HTTPS and a random token.
    pub async fn start(scenario: Scenario) -> anyhow::Result<Sandbox> {
        Self::start_with(scenario, Options::default()).await
    }

    pub async fn start_with(mut scenario: Scenario, options: Options) -> anyhow::Result<Sandbox> {
        let registry = if scenario.flux {
            resources::Registry::with_flux()
        } else {
            resources::Registry::builtin()
        };
        let clock = clock::Clock::new(
            options.start_time.unwrap_or_else(jiff::Timestamp::now),
            options.speed,
        );
        let api = ApiServer::new(registry, clock, options.history);
        for obj in std::mem::take(&mut scenario.objects) {
            let what = format!(
                "{}/{}",
                obj["kind"].as_str().unwrap_or("?"),
                obj["metadata"]["name"].as_str().unwrap_or("?")
            );
            api.load(obj)
                .map_err(|e| anyhow::anyhow!("scenario {}: {what}: {e}", scenario.name))?;
        }
        if api
            .store
            .get(api.namespaces(), "", &scenario.default_namespace)
            .is_none()
        {
            api.load(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scenario.default_namespace}}))
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        for log in &scenario.pod_logs {
            api.store.append_log(&log.namespace, &log.pod, &log.log);
        }

        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", options.port))?;
        let addr = listener.local_addr()?;
        let tls = if options.plain_http {
            None
        } else {
            Some(tls::generate().context("cannot generate certificates")?)
        };
        let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        let token = options
            .token
            .clone()
            .unwrap_or_else(|| format!("sandbox-{}", api.new_uid().replace('-', "")));
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(server::Shared {
            api,
            faults: faults::Faults::default(),
            token,
            user: options.user.clone(),
            address: addr.to_string(),
            bookmark_interval: options.bookmark_interval,
            requests: Mutex::new(vec![]),
            shutdown: stop_rx.clone(),
            sim: std::sync::OnceLock::new(),
        });
        if let (Some(simulation), true) = (scenario.simulation.take(), options.controllers) {
            let sim = controllers::Sim::start(shared.clone(), simulation, options.timing.clone());
            let _ = shared.sim.set(sim);
        }
        for f in &scenario.faults {
            shared.add_fault(f.clone());
        }

        let (kubeconfig, temp_dir) = match &options.kubeconfig_out {
            Some(p) => (p.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "jobgate-sandbox-{}-{}",
                    std::process::id(),
                    addr.port()
                ));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        write_kubeconfig(
            &kubeconfig,
            &url,
            &shared.token,
            ca_pem.as_deref(),
            &scenario.default_namespace,
        )?;

        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config));
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stop_rx));
        Ok(Sandbox {
            shared,
            url,
            kubeconfig,
            temp_dir,
            ca_pem,
            namespace: scenario.default_namespace,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The CA certificate (PEM) clients must trust; `None` with plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The namespace the kubeconfig's context selects.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Direct access to the API semantics and the store, as controllers use them.
    pub fn api(&self) -> &ApiServer {
        &self.shared.api
    }

    /// An object as stored, by API group, plural, namespace and name (`v1` resources).
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let api = &self.shared.api;
        let res = api.registry.find(group, "v1", plural)?;
        api.store
            .get(api.registry.storage(res), namespace, name)
            .map(|o| o.value.clone())
    }

    /// The objects of a namespace as stored, by API group and plural (`v1`).
    pub fn objects(&self, group: &str, plural: &str, namespace: &str) -> Vec<serde_json::Value> {
        let api = &self.shared.api;
        let Some(res) = api.registry.find(group, "v1", plural) else {
            return Vec::new();
        };
        api.store
            .list(api.registry.storage(res), Some(namespace))
            .0
            .into_iter()
            .map(|o| o.value.clone())
            .collect()
    }

    /// The store's resourceVersion now: a mark for [`Sandbox::versions_since`].
    pub fn resource_version(&self) -> u64 {
        self.shared.api.store.resource_version()
    }

    /// Every version an object was written as after resourceVersion `since`, oldest
    /// first, from the store's change history: a test asserts on a state that the
    /// object went through, not on whatever the controllers made of it since.
    /// Errors when the history no longer reaches back to `since`.
    pub fn versions_since(
        &self,
        since: u64,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<serde_json::Value>, String> {
        let api = &self.shared.api;
        let res = api
            .registry
            .find(group, "v1", plural)
            .ok_or_else(|| format!("no resource {plural}.{group}"))?;
        let storage = api.registry.storage(res);
        let (backlog, _) = api.store.subscribe_from(since).map_err(|e| {
            format!(
                "the history no longer reaches back to {} (oldest {})",
                e.requested, e.oldest
            )
        })?;
        Ok(backlog
            .iter()
            .filter(|c| {
                c.resource == storage
                    && c.object.namespace() == namespace
                    && c.object.name() == name
            })
            .map(|c| c.object.value.clone())
            .collect())
    }

    /// A served resource of version v1 (the versions tests write).
    fn resource(
        &self,
        group: &str,
        plural: &str,
    ) -> Result<resources::ResourceId, errors::ApiError> {
        self.shared
            .api
            .registry
            .find(group, "v1", plural)
            .ok_or_else(errors::ApiError::no_route)
    }

    /// Merge-patches an object, or its status with `status`, with the API's
    /// semantics (field manager `sandbox-test`): how tests change the cluster
    /// behind the client's back.
    pub fn merge_patch(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> Result<(), errors::ApiError> {
        let api = &self.shared.api;
        let res = self.resource(group, plural)?;
        let opts = apiserver::WriteOptions {
            manager: "sandbox-test".into(),
            status,
            ..Default::default()
        };
        api.patch(
            res,
            namespace,
            name,
            patch::PatchType::Merge,
            patch.to_string().as_bytes(),
            false,
            &opts,
        )
        .map(|_| ())
    }

    /// Deletes an object as a user would (Background propagation: what it
    /// owns goes too), behind the client's back.
    pub fn delete(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), errors::ApiError> {
        let api = &self.shared.api;
        let res = self.resource(group, plural)?;
        let opts = apiserver::DeleteOptions {
            propagation: Some(apiserver::Propagation::Background),
            ..Default::default()
        };
        api.delete(res, namespace, name, &opts).map(|_| ())
    }

    /// Commits a new image tag to a simulated repository; returns the new revision.
    pub fn push(&self, namespace: &str, name: &str, image: &str) -> Result<String, String> {
        self.shared
            .sim
            .get()
            .ok_or("this scenario has no simulation")?
            .push("GitRepository", namespace, name, image)
    }

    /// Repairs what a broken Job needed (its script's `broken`).
    pub fn fix_job(&self, namespace: &str, name: &str) -> Result<(), String> {
        self.shared
            .sim
            .get()
            .ok_or("this scenario has no simulation")?
            .fix_job(namespace, name)
    }

    /// The simulated time now.
    pub fn now(&self) -> jiff::Timestamp {
        self.shared.api.clock.now()
    }

    pub fn add_fault(&self, fault: Fault) {
        self.shared.add_fault(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every API request so far (discovery included), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Stops accepting, ends open watches and connections, and waits for the server to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<server::Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (shared, tls, mut conn_stop) = (shared.clone(), tls.clone(), stop.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| server::handle(shared.clone(), req));
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else { return };
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            tokio::pin!(conn);
                            tokio::select! {
                                _ = conn.as_mut() => {}
                                _ = conn_stop.changed() => conn.as_mut().graceful_shutdown(),
                            }
                        }
                        None => {
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            tokio::pin!(conn);
                            tokio::select! {
                                _ = conn.as_mut() => {}
                                _ = conn_stop.changed() => conn.as_mut().graceful_shutdown(),
                            }
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    // Open watches end on the same signal; give connections a moment, then drop them.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

fn write_kubeconfig(
    path: &Path,
    url: &str,
    token: &str,
    ca_pem: Option<&str>,
    namespace: &str,
) -> anyhow::Result<()> {
    let mut cluster = json!({ "server": url });
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "jobgate-sandbox", "cluster": cluster }],
        "users": [{ "name": "sandbox-admin", "user": { "token": token } }],
        "contexts": [{ "name": "jobgate-sandbox", "context": { "cluster": "jobgate-sandbox", "user": "sandbox-admin", "namespace": namespace } }],
        "current-context": "jobgate-sandbox",
        "preferences": {},
    });
    let yaml = serde_saphyr::to_string(&config).context("cannot render the kubeconfig")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, yaml)
        .with_context(|| format!("cannot write the kubeconfig to {}", path.display()))
}
