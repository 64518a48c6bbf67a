//! The real stack as a test fixture, in the manner of controller-runtime's
//! envtest: [`stack()`] starts it once per test binary through
//! `tests/realcluster/up` (which builds what is missing, and reuses a stack
//! already running), and every test asks it for an [`App`]: a fresh namespace
//! with its own git repository, GitRepository and chain of three
//! Kustomizations, so that tests run side by side without sharing state.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::Value;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-jobgate");

/// The running stack's facts, as `tests/realcluster/stack env` prints them.
pub struct Stack {
    pub admin: PathBuf,
    pub reader: PathBuf,
    /// Where the stack's binaries are (kubectl-less: the flux CLI, krew).
    pub bin: PathBuf,
    git: PathBuf,
}

/// The stack, started (or found running) once for the whole test binary.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let up = Command::new(format!("{REPO}/tests/realcluster/up"))
            .stderr(Stdio::inherit())
            .output()
            .expect("tests/realcluster/up runs");
        assert!(
            up.status.success(),
            "tests/realcluster/up failed: the real stack did not start (its logs are in target/realcluster/logs)"
        );
        let env = Command::new(format!("{REPO}/tests/realcluster/stack"))
            .arg("env")
            .output()
            .expect("tests/realcluster/stack env runs");
        let text = String::from_utf8_lossy(&env.stdout).into_owned();
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("stack env has no {key}: {text}"))
        };
        Stack {
            admin: get("ADMIN_KUBECONFIG"),
            reader: get("READER_KUBECONFIG"),
            bin: get("RC_BIN"),
            git: get("RC_GIT"),
        }
    })
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command the caller set up (its own environment) to completion.
pub fn finish(cmd: &mut Command) -> Run {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?} runs: {e}", cmd.get_program()));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// Runs a program to completion with a kubeconfig; a hang past `limit` fails the test.
pub fn run(program: &str, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    run_for(program, kubeconfig, args, stdin, Duration::from_secs(240))
}

pub fn run_for(
    program: &str,
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
) -> Run {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("NO_COLOR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    if let Some(text) = stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        pipe.write_all(text.as_bytes()).expect("stdin is writable");
    }
    // Collect the output while the child runs (a full pipe would stall it), and
    // end it if it outlives `limit`.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(limit) {
        Ok(out) => out.expect("the child's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let out = rx
                .recv()
                .expect("the child ends")
                .expect("the child's output");
            panic!(
                "{program} {args:?} hung for {limit:?}; stderr:\n{}\nstdout:\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A command running beside a test.
pub struct Meanwhile {
    stderr: Arc<Mutex<String>>,
    done: std::thread::JoinHandle<Run>,
}

impl Meanwhile {
    fn start(args: &[String]) -> Meanwhile {
        use std::io::{BufRead, Read};
        let mut child = Command::new(BIN)
            .args(args)
            .env("KUBECONFIG", &stack().admin)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{BIN} runs: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut out, err) = (
            child.stdout.take().expect("stdout is piped"),
            child.stderr.take().expect("stderr is piped"),
        );
        let lines = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut text = lines.lock().unwrap_or_else(|p| p.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        let seen = Arc::clone(&stderr);
        let done = std::thread::spawn(move || {
            let mut stdout = String::new();
            let _ = out.read_to_string(&mut stdout);
            let status = child.wait().expect("the command ends");
            let _ = reader.join();
            let stderr = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Run {
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
            }
        });
        Meanwhile { stderr, done }
    }

    /// Blocks until the command's stderr holds `needle`; fails the test,
    /// showing what it said, if it does not within `within`.
    pub fn until(&self, needle: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let text = self
                .stderr
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if text.contains(needle) {
                return;
            }
            if self.done.is_finished() || std::time::Instant::now() > deadline {
                panic!("the command did not say {needle:?} within {within:?}; its stderr:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the command to end (its own --timeout bounds it).
    pub fn join(self) -> Run {
        self.done.join().expect("the command's reader ends")
    }
}

/// How the app's migration behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Migration {
    Succeeds,
    /// Its pod exits 1 (kwok's `jobgate.test/fail` stage), with `backoffLimit: 0`.
    Fails,
    /// As `Fails`, with `backoffLimit: 1`: a failed attempt, then a retry
    /// (after the real Job controller's 10 s back-off) that fails too.
    FailsTwice,
}

/// One test's namespace, git repository and chain (`app-pre-deploy` →
/// `app-deploy` → `app-post-deploy`, from `tests/realcluster/my-app`).
pub struct App {
    pub ns: String,
    work: PathBuf,
    image: String,
    /// The Flux objects applied for it (the GitRepository and the three stages).
    manifests: String,
    /// Shared by every app, taken alone by a [`App::heavy`] one: 10,000
    /// objects keep the Job controller busy for minutes, and would starve the
    /// Jobs of tests running beside it.
    _turn: Turn,
}

enum Turn {
    Shared(#[expect(dead_code, reason = "held, not read")] RwLockReadGuard<'static, ()>),
    Alone(#[expect(dead_code, reason = "held, not read")] RwLockWriteGuard<'static, ()>),
}

static TURNS: RwLock<()> = RwLock::new(());

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.email=test@example.com", "-c", "user.name=test"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl App {
    /// A fresh namespace `NAME-<pid>-<n>` whose chain Flux has not reconciled yet
    /// (see [`App::ready`]). `source_interval` is the GitRepository's fetch interval.
    pub fn new(name: &str, migration: Migration, source_interval: &str) -> App {
        App::with(name, migration, source_interval, true)
    }

    /// An app that loads the cluster heavily: it runs alone, and its namespace
    /// is gone before the next test starts.
    pub fn heavy(name: &str) -> App {
        let turn = Turn::Alone(TURNS.write().unwrap_or_else(|p| p.into_inner()));
        App::start(name, Migration::Succeeds, "1m", true, turn)
    }

    /// [`App::new`], where `target_namespace: false` leaves `app-pre-deploy`
    /// without `targetNamespace`, as the guide's manifests are (its Job has no
    /// namespace, so real Flux refuses to apply it).
    pub fn with(
        name: &str,
        migration: Migration,
        source_interval: &str,
        target_namespace: bool,
    ) -> App {
        let turn = Turn::Shared(TURNS.read().unwrap_or_else(|p| p.into_inner()));
        App::start(name, migration, source_interval, target_namespace, turn)
    }

    fn start(
        name: &str,
        migration: Migration,
        source_interval: &str,
        target_namespace: bool,
        turn: Turn,
    ) -> App {
        let st = stack();
        let ns = format!(
            "{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let work = std::env::temp_dir().join(format!("jobgate-real-{ns}"));
        let _ = std::fs::remove_dir_all(&work);
        copy_dir(
            Path::new(&format!("{REPO}/tests/realcluster/my-app")),
            &work,
        );
        let _ = std::fs::remove_dir_all(work.join("flux"));
        let app = App {
            ns: ns.clone(),
            work,
            image: "ghcr.io/org/my-app:v1.0.0".into(),
            manifests: String::new(),
            _turn: turn,
        };
        app.set_migration(migration);
        git(&app.work, &["init", "-q", "-b", "main"]);
        app.commit("v1.0.0");
        let bare = st.git.join(format!("{ns}.git"));
        let _ = std::fs::remove_dir_all(&bare);
        let out = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&app.work)
            .arg(&bare)
            .output()
            .expect("git clone runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        git(
            &app.work,
            &["remote", "add", "origin", &bare.to_string_lossy()],
        );
        let mut manifests = app.manifests(source_interval);
        if !target_namespace {
            manifests = manifests.replacen(&format!("  targetNamespace: {ns}\n"), "", 1);
        }
        app.apply(&manifests);
        let mut app = app;
        app.manifests = manifests;
        app
    }

    /// `kubectl jobgate lint` of the app's repository as Flux reads it: its
    /// Git checkout, with the Flux objects applied for it under `flux/`.
    pub fn lint(&self, args: &[&str]) -> Run {
        let dir = self.work.with_extension("lint");
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&self.work, &dir);
        let _ = std::fs::remove_dir_all(dir.join(".git"));
        std::fs::create_dir_all(dir.join("flux")).expect("a flux directory");
        std::fs::write(dir.join("flux/stages.yaml"), &self.manifests)
            .expect("the manifests are written");
        let mut all = vec!["lint", dir.to_str().unwrap_or_default()];
        all.extend(args);
        run(BIN, &stack().admin, &all, None)
    }

    fn manifests(&self, source_interval: &str) -> String {
        let ns = &self.ns;
        let ks = |name: &str, path: &str, dep: Option<&str>, force: bool| {
            let dep = dep.map_or(String::new(), |d| format!("  dependsOn: [{{name: {d}}}]\n"));
            format!(
                "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{dep}  sourceRef: {{kind: GitRepository, name: my-app}}\n  targetNamespace: {ns}\n  path: ./{path}/\n  interval: 60m\n  timeout: 2m\n  prune: true\n  wait: true\n  force: {force}\n"
            )
        };
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: my-app, namespace: {ns}}}\nspec:\n  interval: {source_interval}\n  url: http://127.0.0.1:8099/{ns}.git\n  ref: {{branch: main}}\n{}{}{}",
            ks("app-pre-deploy", "pre-deploy", None, true),
            ks("app-deploy", "deploy", Some("app-pre-deploy"), false),
            ks("app-post-deploy", "post-deploy", Some("app-deploy"), true),
        )
    }

    /// `kubectl apply` of YAML, as the admin.
    pub fn apply(&self, yaml: &str) {
        let r = run("kubectl", &stack().admin, &["apply", "-f", "-"], Some(yaml));
        assert_eq!(r.code, 0, "kubectl apply: {}", r.stderr);
    }

    /// kubectl as the admin, in this namespace; fails the test unless it succeeds.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.ns];
        all.extend_from_slice(args);
        let r = run("kubectl", &stack().admin, &all, None);
        assert_eq!(r.code, 0, "kubectl {args:?}: {}", r.stderr);
        r.stdout
    }

    /// An object as JSON.
    pub fn get(&self, what: &str) -> Value {
        serde_json::from_str(&self.kubectl(&["get", what, "-o", "json"])).expect("kubectl's JSON")
    }

    pub fn uid(&self, job: &str) -> String {
        self.get(&format!("job/{job}"))["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// jobgate as `kubeconfig`'s user, in this namespace.
    pub fn jobgate_as(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["-n", &self.ns]);
        run(BIN, kubeconfig, &all, None)
    }

    /// jobgate as `kubeconfig`'s user once a RoleBinding just made has reached
    /// the authorizer: a 403 (exit 2) is tried again for up to 5 s.
    pub fn jobgate_once_bound(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let mut r = self.jobgate_as(kubeconfig, args);
        for _ in 0..50 {
            if r.code != 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            r = self.jobgate_as(kubeconfig, args);
        }
        r
    }

    /// jobgate as the admin, in this namespace.
    pub fn jobgate(&self, args: &[&str]) -> Run {
        self.jobgate_as(&stack().admin, args)
    }

    /// `kubectl jobgate ARGS -n NS` started beside the test: its stderr can
    /// be waited on as it comes ([`Meanwhile::until`]), so a test acts once
    /// the command is where it must be, never after a guessed sleep.
    pub fn jobgate_meanwhile(&self, args: &[&str]) -> Meanwhile {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["-n".to_string(), self.ns.clone()]);
        Meanwhile::start(&all)
    }

    /// Waits (with jobgate, which the other tests check) until the chain is ready.
    pub fn ready(&self) -> &Self {
        let r = self.jobgate(&["wait", "app-post-deploy", "--timeout", "180s"]);
        assert_eq!(
            r.code, 0,
            "the chain of {} became ready: {}",
            self.ns, r.stderr
        );
        self
    }

    fn set_migration(&self, migration: Migration) {
        let path = self.work.join("pre-deploy/migration.job.yaml");
        let mut job: String = std::fs::read_to_string(&path).expect("the migration manifest");
        job = job
            .replace("  backoffLimit: 0\n", "")
            .replace("      labels: {jobgate.test/fail: \"true\"}\n", "");
        job = job.replace(
            "spec:\n  template:\n    spec:\n",
            "spec:\n  backoffLimit: 0\n  template:\n    spec:\n",
        );
        if migration == Migration::FailsTwice {
            job = job.replace("  backoffLimit: 0\n", "  backoffLimit: 1\n");
        }
        if migration != Migration::Succeeds {
            job = job.replace(
                "  template:\n    spec:\n",
                "  template:\n    metadata:\n      labels: {jobgate.test/fail: \"true\"}\n    spec:\n",
            );
        }
        std::fs::write(&path, job).expect("the migration manifest is writable");
    }

    fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-qm", message]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Commits a new image tag in every manifest (and the migration's
    /// behaviour) and pushes it; returns the commit's sha.
    pub fn push(&mut self, tag: &str, migration: Migration) -> String {
        let new = format!("ghcr.io/org/my-app:{tag}");
        for dir in ["pre-deploy", "deploy", "post-deploy"] {
            for entry in std::fs::read_dir(self.work.join(dir)).expect("the app's manifests") {
                let path = entry.expect("a manifest").path();
                let text = std::fs::read_to_string(&path).expect("a manifest is readable");
                std::fs::write(&path, text.replace(&self.image, &new)).expect("writable");
            }
        }
        self.image = new;
        self.set_migration(migration);
        let sha = self.commit(tag);
        git(&self.work, &["push", "-q", "origin", "main"]);
        sha
    }
}

impl App {
    /// Loads `n` Kustomizations and `n` suspended Jobs (no pods) straight into
    /// the apiserver, labelled `jobgate.test/load` so the Flux controllers leave
    /// them alone: 32 creates at a time (kubectl creates a list one by one).
    pub fn load(&self, n: usize) {
        use futures::StreamExt;
        use kube::api::{Api, ApiResource, DynamicObject, PostParams};
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            let kubeconfig = kube::config::Kubeconfig::read_from(&stack().admin).expect("the admin kubeconfig");
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .expect("a client config");
            let client = kube::Client::try_from(config).expect("a client");
            let resource = |group: &str, version: &str, kind: &str, plural: &str| ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: if group.is_empty() { version.into() } else { format!("{group}/{version}") },
                kind: kind.into(),
                plural: plural.into(),
            };
            let ks = resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations");
            let jobs = resource("batch", "v1", "Job", "jobs");
            let objects = (0..n).flat_map(|i| {
                let labels = serde_json::json!({"jobgate.test/load": "true"});
                [
                    (&ks, serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                        "metadata": {"name": format!("load-{i}"), "labels": labels},
                        "spec": {"interval": "60m", "path": "./", "prune": false, "sourceRef": {"kind": "GitRepository", "name": "my-app"}}})),
                    (&jobs, serde_json::json!({"apiVersion": "batch/v1", "kind": "Job",
                        "metadata": {"name": format!("load-{i}"), "labels": labels},
                        "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}})),
                ]
            });
            let failures: Vec<String> = futures::stream::iter(objects)
                .map(|(res, object)| {
                    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &self.ns, res);
                    async move {
                        let object: DynamicObject = serde_json::from_value(object).expect("an object");
                        api.create(&PostParams::default(), &object).await.err().map(|e| e.to_string())
                    }
                })
                .buffer_unordered(32)
                .filter_map(|e| async move { e })
                .collect()
                .await;
            assert!(failures.is_empty(), "{} creates failed, the first: {}", failures.len(), failures[0]);
        });
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Leave nothing behind for the next test or run (the namespace goes in the background).
        let wait = match self._turn {
            Turn::Alone(_) => "--wait=true",
            Turn::Shared(_) => "--wait=false",
        };
        let _ = run_for(
            "kubectl",
            &stack().admin,
            &["delete", "namespace", &self.ns, wait, "--timeout=300s"],
            None,
            Duration::from_secs(320),
        );
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a temporary directory");
    for entry in std::fs::read_dir(from).expect("the directory is readable") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}
