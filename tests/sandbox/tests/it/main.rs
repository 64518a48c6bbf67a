//! The sandbox's integration tests, one binary:
//! - `api`: the protocol, verb by verb, through kube's HTTP client over HTTPS;
//! - `kubectl`: the real kubectl against the running sandbox;
//! - `client`: kube-rs's typed API and runtime watcher;
//! - `controllers`: the simulated controllers, observed through the API;
//! - `fidelity`: what the controllers write, against what real Flux wrote;
//! - `binary`: the `jobgate-sandbox` executable (URL on stdout, kubeconfig, SIGTERM).

mod api;
mod binary;
mod client;
mod controllers;
mod fidelity;
mod kubectl;

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use jobgate_sandbox::{Options, Sandbox, Scenario};
use serde_json::Value;

/// How long any single step may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(20);

pub struct Harness {
    pub sandbox: Sandbox,
    pub client: kube::Client,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A kube client from the sandbox's kubeconfig; `retry` keeps kube's own
/// retries of 429/503/504 (off for tests of the raw protocol).
pub async fn client_for(sandbox: &Sandbox, retry: bool) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(sandbox.kubeconfig())
        .expect("the sandbox writes a valid kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("the kubeconfig resolves");
    config.default_retry = retry;
    kube::Client::try_from(config).expect("a client builds from the kubeconfig")
}

/// A sandbox without its simulated controllers: these tests are about the
/// API server alone (with controllers, Flux would act on what they write).
pub async fn start(scenario: &str) -> Harness {
    let options = Options {
        controllers: false,
        ..Options::default()
    };
    start_with(
        Scenario::builtin(scenario).expect("a built-in scenario"),
        options,
    )
    .await
}

pub async fn start_with(scenario: Scenario, options: Options) -> Harness {
    let sandbox = Sandbox::start_with(scenario, options)
        .await
        .expect("the sandbox starts");
    let client = client_for(&sandbox, false).await;
    Harness { sandbox, client }
}

impl Harness {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = http::Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(kube::client::Body::from(body.into()))
            .expect("a valid request");
        let resp = tokio::time::timeout(STEP, self.client.send(req))
            .await
            .expect("no hang")
            .expect("the request completes");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect_bytes()
            .await
            .expect("the body arrives");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, vec![], &[]).await
    }

    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Resp {
        self.call(
            method,
            path,
            Some(content_type),
            serde_json::to_vec(body).expect("JSON"),
            &[],
        )
        .await
    }

    /// Opens a streaming GET (a watch or a followed log).
    pub async fn stream(&self, path: &str) -> Lines {
        let req = http::Request::builder()
            .uri(path)
            .body(kube::client::Body::empty())
            .expect("a valid request");
        let resp = tokio::time::timeout(STEP, self.client.send(req))
            .await
            .expect("no hang")
            .expect("the stream opens");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        Lines {
            body: resp.into_body(),
            buf: vec![],
        }
    }
}

/// Newline-delimited frames of a streaming response.
pub struct Lines {
    body: kube::client::Body,
    buf: Vec<u8>,
}

impl Lines {
    /// The next line; `None` when the server ended the stream.
    pub async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            let frame = tokio::time::timeout(STEP, self.body.frame())
                .await
                .expect("the stream stalled")?;
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    pub async fn next_event(&mut self) -> Option<Value> {
        self.next_line()
            .await
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad event ({e}): {l}")))
    }

    /// Events until one matches, skipping bookmarks.
    pub async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let ev = self
                .next_event()
                .await
                .expect("the stream ended before the expected event");
            if pred(&ev) {
                return ev;
            }
        }
    }
}

pub const KS: &str = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations";
pub const JOBS: &str = "/apis/batch/v1/namespaces/apps/jobs";
pub const PODS: &str = "/api/v1/namespaces/apps/pods";
