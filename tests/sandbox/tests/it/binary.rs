//! The `jobgate-sandbox` executable: prints its URL, writes a working
//! kubeconfig, and exits cleanly on SIGTERM.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::STEP;

#[tokio::test]
async fn binary_serves_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("jobgate-sandbox-bin-{}", std::process::id()));
    let kubeconfig = dir.join("kc");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobgate-sandbox"))
        .args(["--scenario", "failed", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(STEP, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    // A demo runs at a demo's speed, and says so.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = tokio::time::timeout(STEP, stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        said.contains("its clock at 10× real time (--speed 1 for real time)"),
        "{said}"
    );

    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        text.contains("certificate-authority-data")
            && text.contains(&url)
            && text.contains("namespace: apps"),
        "{text}"
    );
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.minor, "33");

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("stops promptly")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(dir);
}
