//! The release, judged by the tools that consume it: the real flux CLI installs
//! jobgate from its plugin catalog, the real krew validates and installs its
//! manifest, the real krew-release-bot renders `.krew.yaml` as
//! `plugin-manifest/dist` does, and actionlint checks the release workflow.

use crate::stack::{App, BIN, Migration, REPO, finish, stack};

/// `plugin-manifest/dist` with these arguments, which must succeed.
fn dist(args: &[&str]) {
    let r = finish(std::process::Command::new(format!("{REPO}/plugin-manifest/dist")).args(args));
    assert_eq!(r.code, 0, "plugin-manifest/dist {args:?}: {}", r.stderr);
}

/// The five release archives in `dir/archives`, each `content(platform)`, and
/// the manifests `dist --release` renders from them into `dir/release`
/// (returned: the archives' directory, the manifests').
fn release(
    dir: &std::path::Path,
    content: impl Fn(&str) -> Vec<u8>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let archives = dir.join("archives");
    std::fs::create_dir_all(&archives).expect("a directory");
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    for platform in [
        "linux_amd64.tar.gz",
        "linux_arm64.tar.gz",
        "darwin_amd64.tar.gz",
        "darwin_arm64.tar.gz",
        "windows_amd64.zip",
    ] {
        std::fs::write(
            archives.join(format!("kubectl-jobgate_{version}_{platform}")),
            content(platform),
        )
        .expect("an archive");
    }
    let manifests = dir.join("release");
    dist(&[
        "--release",
        archives.to_str().expect("a UTF-8 path"),
        "--out",
        manifests.to_str().expect("a UTF-8 path"),
    ]);
    (archives, manifests)
}

/// Serves the files of `dir` over HTTP on a free loopback port, for as long
/// as the test runs: Flux's plugin catalog, as `FLUXCD_PLUGIN_CATALOG` reads it.
fn serve(dir: std::path::PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let mut out = &stream;
            let _ = match std::fs::read(dir.join(path)) {
                Ok(body) => write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|()| out.write_all(&body)),
                Err(_) => write!(
                    out,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    url
}

/// `plugin-manifest/dist` packs one archive for krew and Flux: the real flux
/// CLI installs it from a catalog on loopback as `flux-jobgate`, lists it,
/// runs it as `flux jobgate` against real Flux, and completes through it.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn flux_installs_jobgate_from_its_catalog_and_runs_it_as_flux_jobgate() {
    let app = App::new("fluxplugin", Migration::Succeeds, "1m");
    app.ready();
    let dir = std::env::temp_dir().join(format!("jobgate-flux-plugin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    // Flux creates its own plugin directory, not one $FLUXCD_PLUGINS names.
    std::fs::create_dir_all(dir.join("plugins")).expect("the plugin directory");
    let url = serve(dir.clone());
    dist(&[
        "--binary",
        BIN,
        "--out",
        dir.to_str().expect("a UTF-8 path"),
        "--base-url",
        &url,
    ]);
    let flux = |args: &[&str]| {
        let r = finish(
            std::process::Command::new(stack().bin.join("flux"))
                .args(args)
                .env("FLUXCD_PLUGIN_CATALOG", format!("{url}/flux/"))
                .env("FLUXCD_PLUGINS", dir.join("plugins"))
                .env("KUBECONFIG", &stack().admin),
        );
        (r.code, r.stdout, r.stderr)
    };
    let (code, out, err) = flux(&["plugin", "install", "jobgate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(concat!("installed jobgate v", env!("CARGO_PKG_VERSION"))),
        "{out}{err}"
    );
    let (code, out, err) = flux(&["plugin", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("jobgate")
            && l.contains(env!("CARGO_PKG_VERSION"))
            && l.contains("flux-jobgate")),
        "{out}"
    );
    let (code, out, err) = flux(&["jobgate", "status", "-n", &app.ns]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("CHAIN {}/app-pre-deploy  ✔ UpToDate\n", app.ns)),
        "{out}"
    );
    let (code, out, _) = flux(&["jobgate", "rerun", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: flux jobgate rerun"), "{out}");
    let (code, out, err) = flux(&["__complete", "jobgate", "rerun", "-n", &app.ns, ""]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("app-pre-deploy")),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// krew's own tools judge the release: the real `validate-krew-manifest`
/// passes the manifest rendered for this machine and the one rendered for all
/// five platforms (from stand-in archives: `-skip-install` downloads nothing),
/// and the real krew installs the archive into a fresh `KREW_ROOT`, where
/// kubectl's plugin discovery runs it.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn krew_validates_the_manifests_and_installs_the_archive() {
    let dir = std::env::temp_dir().join(format!("jobgate-krew-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let local = dir.join("local");
    dist(&[
        "--binary",
        BIN,
        "--out",
        local.to_str().expect("a UTF-8 path"),
    ]);
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let archive = local.join(format!("kubectl-jobgate_{version}_linux_amd64.tar.gz"));
    // The five release archives, each a copy of this one (what is checked is
    // the manifest: every platform, its selector, its checksum's form).
    let bytes = std::fs::read(&archive).expect("the archive");
    let (_, release) = release(&dir, |_| bytes.clone());
    let bin = &stack().bin;
    for manifest in [local.join("jobgate.yaml"), release.join("jobgate.yaml")] {
        let out = std::process::Command::new(bin.join("validate-krew-manifest"))
            .arg("-manifest")
            .arg(&manifest)
            .arg("-skip-install")
            .output()
            .expect("validate-krew-manifest runs");
        assert!(
            out.status.success(),
            "{}: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let flux =
        std::fs::read_to_string(release.join("flux/jobgate.yaml")).expect("the Flux manifest");
    assert_eq!(flux.matches("      - os: ").count(), 5, "{flux}");
    assert!(flux.contains("extractPath: kubectl-jobgate.exe"), "{flux}");

    // kubectl finds krew as a plugin (kubectl-krew on PATH), krew installs into
    // KREW_ROOT, and kubectl finds jobgate there.
    let path_dir = dir.join("path");
    std::fs::create_dir_all(&path_dir).expect("a directory");
    std::os::unix::fs::symlink(bin.join("krew"), path_dir.join("kubectl-krew")).expect("a link");
    let root = dir.join("krew-root");
    let path = format!(
        "{}:{}:{}",
        root.join("bin").display(),
        path_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = |args: &[&str]| {
        let r = finish(
            std::process::Command::new("kubectl")
                .args(args)
                .env("KREW_ROOT", &root)
                .env("PATH", &path)
                .env("KUBECONFIG", &stack().admin),
        );
        (r.code, r.stdout, r.stderr)
    };
    let manifest_arg = format!("--manifest={}", local.join("jobgate.yaml").display());
    let archive_arg = format!("--archive={}", archive.display());
    let (code, out, err) = kubectl(&["krew", "install", &manifest_arg, &archive_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(root.join("bin/kubectl-jobgate").exists(), "{out}{err}");
    let (code, out, err) = kubectl(&["jobgate", "version"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("kubectl-jobgate {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    // What krew recorded (`krew list` needs the index, which needs the network).
    let receipt =
        std::fs::read_to_string(root.join("receipts/jobgate.yaml")).expect("krew's receipt");
    assert!(receipt.contains("name: jobgate"), "{receipt}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// krew-release-bot (v0.0.46, the version the release workflow runs) renders
/// `.krew.yaml` for a tag, downloading each archive for its checksum, into the
/// same manifest as `plugin-manifest/dist --release` renders from the same
/// archives: what krew-index receives is what the real suite validated. The
/// bot reads GitHub's release URLs; here they point at the archives served on
/// loopback, and back again in its output.
#[test]
#[ignore = "needs the real stack's tools (tests/realcluster/build); .ci/run runs it"]
fn krew_release_bot_renders_the_template_as_dist_does() {
    let dir = std::env::temp_dir().join(format!("jobgate-krew-bot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    // Stand-ins, each of its own content: a checksum in the wrong platform shows.
    let (archives, release) = release(&dir, |platform| platform.as_bytes().to_vec());

    let url = serve(archives);
    let github = "https://github.com/jobgate/kubectl-jobgate/releases/download/";
    let template = std::fs::read_to_string(format!("{REPO}/.krew.yaml")).expect(".krew.yaml");
    let on_github = format!("{github}{{{{ .TagName }}}}/");
    assert_eq!(template.matches(&on_github).count(), 5, "{template}");
    let local_template = dir.join(".krew.yaml");
    std::fs::write(
        &local_template,
        template.replace(&on_github, &format!("{url}/")),
    )
    .expect("the template");
    let r = finish(
        std::process::Command::new(stack().bin.join("krew-release-bot"))
            .args(["template", "--tag", &version, "--template-file"])
            .arg(&local_template),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let by_bot = r
        .stdout
        .replace(&format!("{url}/"), &format!("{github}{version}/"));

    let by_dist =
        std::fs::read_to_string(release.join("jobgate.yaml")).expect("dist's krew manifest");
    let parse = |yaml: &str| -> serde_json::Value {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}:\n{yaml}"))
    };
    assert_eq!(
        parse(&by_bot),
        parse(&by_dist),
        "the bot's:\n{by_bot}\ndist's:\n{by_dist}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The release workflow (`.github/workflows/release.yml`, which builds darwin
/// on macOS runners) passes actionlint, its `run:` scripts checked by
/// shellcheck: a workflow that cannot run here is at least read by the tool
/// that knows GitHub's schema, expressions and runner labels.
#[test]
#[ignore = "needs the real stack's tools (tests/realcluster/build); .ci/run runs it"]
fn the_release_workflow_passes_actionlint() {
    let shellcheck = std::process::Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        shellcheck,
        "shellcheck is needed for actionlint to check the run: scripts (Debian: shellcheck; .ci/run installs it)"
    );
    let r = finish(
        std::process::Command::new(stack().bin.join("actionlint"))
            .args(["-shellcheck", "shellcheck", ".github/workflows/release.yml"])
            .current_dir(REPO),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}
