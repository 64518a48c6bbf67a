//! The HTTP side: TLS or plain transport, bearer-token authentication, fault
//! injection, routing of `/api` and `/apis` paths to verbs, watch streams,
//! Tables, pod logs, gzip, the request log, and the `/sandbox/v1` control
//! endpoint. API semantics are delegated to [`ApiServer`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::apiserver::{ApiServer, DeleteOptions, Deleted, ListQuery, Propagation, WriteOptions};
use crate::discovery;
use crate::errors::ApiError;
use crate::faults::{Cut, Fault, Faults};
use crate::patch::PatchType;
use crate::resources::{ResourceDef, ResourceId};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ChangeKind, Stored};
use crate::table::{self, IncludeObject};

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// kube-apiserver compresses responses larger than this when the client accepts gzip.
const GZIP_THRESHOLD: usize = 128 * 1024;

/// One request as the sandbox saw it; tests assert on these.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    /// get, list, watch, create, update, patch, delete (empty for discovery and others).
    pub verb: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub code: u16,
    pub user_agent: String,
    /// The body of a patch or delete as sent (the patch, or the DeleteOptions).
    pub body: String,
    /// When the answer was ready, in seconds since the Unix epoch (wall
    /// clock): for a write, after the store wrote it and told its watchers.
    /// The benchmark's reaction times are measured from it.
    pub answered_at: f64,
}

/// State shared by all connections.
pub struct Shared {
    pub api: ApiServer,
    pub faults: Faults,
    pub token: String,
    pub user: String,
    pub address: String,
    pub bookmark_interval: Duration,
    pub requests: Mutex<Vec<RequestRecord>>,
    pub shutdown: watch::Receiver<bool>,
    /// The simulated controllers, when the scenario has a simulation.
    pub sim: std::sync::OnceLock<Arc<crate::controllers::Sim>>,
}

impl Shared {
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn clear_requests(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn add_fault(&self, fault: Fault) {
        if fault == Fault::Gone {
            self.api.store.compact();
        } else {
            self.faults.add(fault);
        }
    }
}

/// What a request addressed, for the log.
#[derive(Default)]
struct Info {
    verb: &'static str,
    resource: String,
    namespace: String,
    name: String,
    /// The body of a patch or delete, as sent.
    body: String,
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn respond(code: u16, content_type: &str, body: Vec<u8>, gzip: bool) -> Response<Body> {
    let mut builder = Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, content_type);
    let body = if gzip && body.len() > GZIP_THRESHOLD {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 8),
            flate2::Compression::fast(),
        );
        match enc.write_all(&body).and_then(|_| enc.finish()) {
            Ok(compressed) => {
                builder = builder.header(header::CONTENT_ENCODING, "gzip");
                compressed
            }
            Err(_) => body,
        }
    } else {
        body
    };
    builder
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// A streamed body fed by a channel; it ends when the sender is dropped.
fn stream_body(rx: mpsc::Receiver<Bytes>) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    BodyExt::boxed_unsync(StreamBody::new(stream))
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    respond(
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
        false,
    )
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Entry point for every request on every connection.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut info = Info::default();
    let response = match route(&shared, req, &mut info).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    if !path.starts_with("/sandbox/") {
        let record = RequestRecord {
            method,
            path,
            query,
            verb: info.verb.to_string(),
            resource: info.resource,
            namespace: info.namespace,
            name: info.name,
            code: response.status().as_u16(),
            user_agent,
            body: info.body,
            answered_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        };
        shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }
    Ok(response)
}

fn authenticate(s: &Shared, req: &Request<Incoming>, control: bool) -> Result<(), ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if t == s.token && (control || !s.faults.token_expired()) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The aggregated discovery version the client accepts, if any.
fn aggregated_version(accept: &str) -> Option<&'static str> {
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        if params.contains(&"as=APIGroupDiscoveryList") && params.contains(&"g=apidiscovery.k8s.io")
        {
            if params.contains(&"v=v2") {
                return Some("v2");
            }
            if params.contains(&"v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

async fn route(
    s: &Arc<Shared>,
    req: Request<Incoming>,
    info: &mut Info,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    match path.as_str() {
        "/version" => return Ok(json_response(200, &discovery::version())),
        "/healthz" | "/livez" | "/readyz" => {
            return Ok(respond(200, "text/plain", b"ok".to_vec(), false));
        }
        _ => {}
    }
    let control = path.starts_with("/sandbox/");
    authenticate(s, &req, control)?;
    if control {
        return control_endpoint(s, req).await;
    }
    let reg = &s.api.registry;
    let accept = header_str(&req, header::ACCEPT).to_string();
    let discovery_doc = |core: bool, legacy: Value| -> Response<Body> {
        match aggregated_version(&accept) {
            Some(v) => respond(
                200,
                &format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"),
                serde_json::to_vec(&discovery::aggregated(
                    reg,
                    core,
                    &format!("apidiscovery.k8s.io/{v}"),
                ))
                .unwrap_or_default(),
                false,
            ),
            None => json_response(200, &legacy),
        }
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_resource = matches!(
        segments.as_slice(),
        ["api", _, _, ..] | ["apis", _, _, _, ..]
    );
    if !is_resource {
        inject(s, req.method().as_str(), &path).await?;
    }
    match segments.as_slice() {
        ["api"] => Ok(discovery_doc(true, discovery::api_versions(&s.address))),
        ["apis"] => Ok(discovery_doc(false, discovery::api_group_list(reg))),
        ["api", v] => discovery::api_resource_list(reg, "", v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        ["apis", g] => discovery::api_group(reg, g)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        ["apis", g, v] => discovery::api_resource_list(reg, g, v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        ["openapi", "v3"] => Ok(json_response(200, &discovery::openapi_v3_index(reg))),
        ["openapi", "v3", "api", v] => discovery::openapi_v3_document(reg, "", v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        ["openapi", "v3", "apis", g, v] => discovery::openapi_v3_document(reg, g, v)
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route),
        ["api", v, rest @ ..] => {
            let (v, rest) = (
                v.to_string(),
                rest.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            );
            resource(s, req, "", &v, &rest, info).await
        }
        ["apis", g, v, rest @ ..] => {
            let (g, v, rest) = (
                g.to_string(),
                v.to_string(),
                rest.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            );
            resource(s, req, &g, &v, &rest, info).await
        }
        _ => Err(ApiError::no_route()),
    }
}

/// Injected latency and failures, applied once the request is identified
/// (before authorization, like the apiserver's priority and fairness).
async fn inject(s: &Shared, method: &str, path: &str) -> Result<(), ApiError> {
    if let Some(delay) = s.faults.latency(method, path) {
        tokio::time::sleep(delay).await;
    }
    match s.faults.failure(method, path) {
        Some((code, retry_after)) => Err(ApiError::injected(code, retry_after)),
        None => Ok(()),
    }
}

fn query_map(req: &Request<Incoming>) -> HashMap<String, String> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn truthy(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

fn decode_object(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let v: Value = if content_type.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}': {e}",
                String::from_utf8_lossy(body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))
        })?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    }
    Ok(v)
}

/// The field manager: the parameter, or the User-Agent's program name as the apiserver defaults it.
fn manager(q: &HashMap<String, String>, user_agent: &str) -> String {
    match q.get("fieldManager") {
        Some(m) if !m.is_empty() => m.clone(),
        _ => user_agent.split('/').next().unwrap_or("").to_string(),
    }
}

fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

#[expect(
    clippy::too_many_lines,
    reason = "one dispatch table over method × path shape reads best in one place"
)]
async fn resource(
    s: &Arc<Shared>,
    req: Request<Incoming>,
    group: &str,
    version: &str,
    rest: &[String],
    info: &mut Info,
) -> Result<Response<Body>, ApiError> {
    let reg = &s.api.registry;
    let namespaced_prefix = rest.len() >= 3
        && rest[0] == "namespaces"
        && reg
            .find(group, version, &rest[2])
            .is_some_and(|id| reg.def(id).namespaced);
    let (ns, rest) = if namespaced_prefix {
        (Some(rest[1].clone()), &rest[2..])
    } else {
        (None, rest)
    };
    let Some(plural) = rest.first() else {
        return Err(ApiError::no_route());
    };
    let res = reg
        .find(group, version, plural)
        .ok_or_else(ApiError::no_route)?;
    let def = reg.def(res).clone();
    let name = rest.get(1).cloned();
    let sub = rest.get(2).cloned();
    if rest.len() > 3
        || (!def.namespaced && ns.is_some())
        || (def.namespaced && ns.is_none() && name.is_some())
    {
        return Err(ApiError::no_route());
    }
    let q = query_map(&req);
    let method = req.method().clone();
    let verb: &'static str = match (&method, &name) {
        (&Method::GET, None) if truthy(&q, "watch") => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        _ => return Err(ApiError::method_not_allowed()),
    };
    *info = Info {
        verb,
        resource: plural.clone(),
        namespace: ns.clone().unwrap_or_default(),
        name: name.clone().unwrap_or_default(),
        body: String::new(),
    };
    // A watch is a GET; faults can also name it by its verb, as `WATCH`.
    let method_or_watch = if verb == "watch" {
        "WATCH"
    } else {
        method.as_str()
    };
    inject(s, method_or_watch, req.uri().path()).await?;
    let rbac_resource = match &sub {
        Some(sub) => format!("{plural}/{sub}"),
        None => plural.clone(),
    };
    let name_str = name.clone().unwrap_or_default();
    if s.faults
        .denied(verb, group, &rbac_resource, ns.as_deref(), &name_str)
    {
        return Err(ApiError::forbidden(
            &s.user,
            verb,
            &def,
            &rbac_resource,
            ns.as_deref(),
            &name_str,
        ));
    }
    match sub.as_deref() {
        None => {}
        Some("status") if def.status_subresource && ["get", "update", "patch"].contains(&verb) => {}
        Some("log") if def.group.is_empty() && def.plural == "pods" && verb == "get" => {
            return pod_log(s, ns.unwrap_or_default(), name_str, q).await;
        }
        Some(_) => return Err(ApiError::no_route()),
    }
    let accept = header_str(&req, header::ACCEPT).to_string();
    let gzip = header_str(&req, header::ACCEPT_ENCODING).contains("gzip");
    let table = wants_table(&accept);
    let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
    let user_agent = header_str(&req, header::USER_AGENT).to_string();
    let content_type = header_str(&req, header::CONTENT_TYPE).to_string();
    let opts = WriteOptions {
        manager: manager(&q, &user_agent),
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        status: sub.as_deref() == Some("status"),
    };
    let now = s.api.clock.now();
    let one = |code: u16, obj: &Arc<Stored>| -> Response<Body> {
        if table {
            let t = table::table(
                &def,
                vec![table::row(&def, obj, now, include)],
                true,
                json!({"resourceVersion": obj.value["metadata"]["resourceVersion"]}),
            );
            return json_response(code, &t);
        }
        let mut out = Vec::with_capacity(1024);
        obj.write_json(&mut out, true);
        respond(code, "application/json", out, gzip)
    };
    let ns_str = ns.clone().unwrap_or_default();
    match verb {
        "get" => Ok(one(200, &s.api.get(res, &ns_str, &name_str)?)),
        "list" => list(s, res, &def, ns.as_deref(), &q, table, include, gzip),
        "watch" => watch_stream(s, res, ns, &q, table, include, req.uri().path()).await,
        "create" => {
            let body = read_body(req).await?;
            let obj = decode_object(&body, &content_type)?;
            Ok(one(201, &s.api.create(res, ns.as_deref(), obj, &opts)?))
        }
        "update" => {
            let body = read_body(req).await?;
            let obj = decode_object(&body, &content_type)?;
            Ok(one(
                200,
                &s.api.update(res, &ns_str, &name_str, obj, &opts)?,
            ))
        }
        "patch" => {
            let kind = PatchType::from_content_type(&content_type)
                .ok_or_else(ApiError::unsupported_media_type)?;
            let body = read_body(req).await?;
            info.body = String::from_utf8_lossy(&body).into_owned();
            let force = truthy(&q, "force");
            if force && kind != PatchType::Apply {
                return Err(ApiError::bad_request(
                    "force may only be set for apply patches",
                ));
            }
            let existed = s
                .api
                .store
                .get(reg.storage(res), &ns_str, &name_str)
                .is_some();
            let obj = s
                .api
                .patch(res, &ns_str, &name_str, kind, &body, force, &opts)?;
            Ok(one(if existed { 200 } else { 201 }, &obj))
        }
        "delete" => {
            let body = read_body(req).await?;
            info.body = String::from_utf8_lossy(&body).into_owned();
            let del = delete_options(&body, &q)?;
            let outcome = s.api.delete(res, &ns_str, &name_str, &del)?;
            let mut r = match outcome.deleted {
                Deleted::Pending(obj) => one(202, &obj),
                // Custom resources return the deleted object; built-ins a Status (ReturnDeletedObject).
                Deleted::Now(obj) if def.custom => one(200, &obj),
                Deleted::Now(obj) => json_response(
                    200,
                    &json!({
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": { "name": name_str, "group": def.group, "kind": def.plural, "uid": obj.value["metadata"]["uid"] },
                    }),
                ),
            };
            if let Some(w) = outcome.warning
                && let Ok(v) = HeaderValue::from_str(&format!("299 - \"{w}\""))
            {
                r.headers_mut().insert(header::WARNING, v);
            }
            Ok(r)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn delete_options(body: &[u8], q: &HashMap<String, String>) -> Result<DeleteOptions, ApiError> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let propagation = match (
        v["propagationPolicy"]
            .as_str()
            .or(q.get("propagationPolicy").map(String::as_str)),
        v["orphanDependents"].as_bool(),
    ) {
        (Some(p), _) => Some(Propagation::parse(p)?),
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
    };
    let dry_run = v["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|x| x == "All"))
        || q.get("dryRun").is_some_and(|d| d == "All");
    Ok(DeleteOptions {
        propagation,
        uid: v["preconditions"]["uid"].as_str().map(String::from),
        resource_version: v["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run,
    })
}

#[expect(clippy::too_many_arguments, reason = "the list request's parameters")]
fn list(
    s: &Shared,
    res: ResourceId,
    def: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    table: bool,
    include: IncludeObject,
    gzip: bool,
) -> Result<Response<Body>, ApiError> {
    let query = ListQuery {
        labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), def)?,
        limit: q.get("limit").and_then(|l| l.parse().ok()),
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
        from_cache: q.get("resourceVersion").is_some_and(|v| v == "0"),
    };
    let page = s.api.list(res, ns, &query)?;
    let mut meta = json!({ "resourceVersion": page.resource_version.to_string() });
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    if table {
        let now = s.api.clock.now();
        let rows = page
            .items
            .iter()
            .map(|o| table::row(def, o, now, include))
            .collect();
        return Ok(json_response(200, &table::table(def, rows, true, meta)));
    }
    // kube-apiserver's field order: a built-in list is written by its Go struct
    // (kind, apiVersion, metadata, items), a custom-resource list as an
    // unstructured map, keys sorted (apiVersion, items, kind, metadata), so its
    // `continue` token comes after every item.
    let mut out = Vec::with_capacity(256 + page.items.len() * 2048);
    let items = |out: &mut Vec<u8>| {
        for (i, item) in page.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out, def.custom);
        }
    };
    if def.custom {
        write!(
            out,
            "{{\"apiVersion\":\"{}\",\"items\":[",
            def.api_version()
        )
        .map_err(ApiError::internal)?;
        items(&mut out);
        write!(
            out,
            "],\"kind\":\"{}\",\"metadata\":{meta}}}",
            def.list_kind()
        )
        .map_err(ApiError::internal)?;
    } else {
        write!(
            out,
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{meta},\"items\":[",
            def.list_kind(),
            def.api_version(),
        )
        .map_err(ApiError::internal)?;
        items(&mut out);
        out.extend_from_slice(b"]}");
    }
    Ok(respond(200, "application/json", out, gzip))
}

/// One watch event line.
fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

struct WatchSpec {
    res: ResourceId,
    storage: ResourceId,
    def: ResourceDef,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
    include: IncludeObject,
    bookmarks: bool,
    timeout: Option<Duration>,
    cut: Option<Cut>,
}

impl WatchSpec {
    fn selects(&self, obj: &Stored) -> bool {
        self.ns.as_deref().is_none_or(|ns| obj.namespace() == ns)
            && self.labels.matches(&obj.value)
            && self.fields.matches(&obj.value)
    }
}

async fn watch_stream(
    s: &Arc<Shared>,
    res: ResourceId,
    ns: Option<String>,
    q: &HashMap<String, String>,
    table: bool,
    include: IncludeObject,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let def = s.api.def(res).clone();
    let spec = WatchSpec {
        res,
        storage: s.api.registry.storage(res),
        labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), &def)?,
        def,
        ns,
        table,
        include,
        bookmarks: truthy(q, "allowWatchBookmarks"),
        timeout: q
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs),
        cut: s.faults.watch_cut(path),
    };
    let send_initial = truthy(q, "sendInitialEvents");
    let rv: Option<u64> = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
        ),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    // Subscribe before answering so no change is missed between the two.
    let start = match (rv, send_initial) {
        (Some(rv), false) => match s.api.store.subscribe_from(rv) {
            Ok((backlog, changes)) => Start::Resume(backlog, changes),
            Err(too_old) => Start::Expired(ApiError::too_old(too_old.requested, too_old.oldest)),
        },
        _ => {
            let (items, rv, changes) = s
                .api
                .store
                .snapshot_and_subscribe(spec.storage, spec.ns.as_deref());
            Start::Fresh(items, rv, changes, send_initial)
        }
    };
    let shared = s.clone();
    tokio::spawn(async move { run_watch(shared, spec, start, tx).await });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(stream_body(rx))
        .map_err(ApiError::internal)
}

enum Start {
    Resume(
        Vec<Arc<crate::store::Change>>,
        broadcast::Receiver<Arc<crate::store::Change>>,
    ),
    Fresh(
        Vec<Arc<Stored>>,
        u64,
        broadcast::Receiver<Arc<crate::store::Change>>,
        bool,
    ),
    Expired(ApiError),
}

struct Emitter {
    tx: mpsc::Sender<Bytes>,
    sent: u32,
    columns_sent: bool,
}

impl Emitter {
    async fn send(
        &mut self,
        spec: &WatchSpec,
        shared: &Shared,
        kind: &str,
        obj: &Arc<Stored>,
    ) -> bool {
        let obj = shared.api.present(spec.res, obj.clone());
        let bytes = if spec.table {
            let now = shared.api.clock.now();
            let row = table::row(&spec.def, &obj, now, spec.include);
            let t = table::table(
                &spec.def,
                vec![row],
                !self.columns_sent,
                json!({"resourceVersion": obj.value["metadata"]["resourceVersion"]}),
            );
            self.columns_sent = true;
            serde_json::to_vec(&t).unwrap_or_default()
        } else {
            let mut out = Vec::with_capacity(1024);
            obj.write_json(&mut out, true);
            out
        };
        self.sent += 1;
        self.tx.send(event_line(kind, &bytes)).await.is_ok()
    }

    async fn bookmark(&mut self, spec: &WatchSpec, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let obj = json!({ "kind": spec.def.kind, "apiVersion": spec.def.api_version(), "metadata": meta });
        self.tx
            .send(event_line(
                "BOOKMARK",
                &serde_json::to_vec(&obj).unwrap_or_default(),
            ))
            .await
            .is_ok()
    }

    fn cut(&self, spec: &WatchSpec) -> bool {
        spec.cut
            .and_then(|c| c.after_events)
            .is_some_and(|n| self.sent >= n)
    }
}

/// How a change looks through this watch's selectors: real watches turn
/// objects moving in or out of a selector into ADDED and DELETED.
fn translate(spec: &WatchSpec, change: &crate::store::Change) -> Option<ChangeKind> {
    if change.resource != spec.storage {
        return None;
    }
    let now_in = spec.selects(&change.object);
    let was_in = change.old.as_ref().is_some_and(|o| spec.selects(o));
    match change.kind {
        ChangeKind::Added => now_in.then_some(ChangeKind::Added),
        ChangeKind::Deleted => was_in.then_some(ChangeKind::Deleted),
        ChangeKind::Modified => match (was_in, now_in) {
            (true, true) => Some(ChangeKind::Modified),
            (false, true) => Some(ChangeKind::Added),
            (true, false) => Some(ChangeKind::Deleted),
            (false, false) => None,
        },
    }
}

async fn run_watch(shared: Arc<Shared>, spec: WatchSpec, start: Start, tx: mpsc::Sender<Bytes>) {
    let mut em = Emitter {
        tx,
        sent: 0,
        columns_sent: false,
    };
    let mut shutdown = shared.shutdown.clone();
    let (mut changes, mut last_rv) = match start {
        Start::Expired(e) => {
            let _ = em
                .tx
                .send(event_line(
                    "ERROR",
                    &serde_json::to_vec(&e.to_status()).unwrap_or_default(),
                ))
                .await;
            return;
        }
        Start::Resume(backlog, changes) => {
            let mut last = 0;
            for change in backlog {
                last = change.rv;
                if let Some(kind) = translate(&spec, &change)
                    && (!em.send(&spec, &shared, kind.as_str(), &change.object).await
                        || em.cut(&spec))
                {
                    return;
                }
            }
            (changes, last)
        }
        Start::Fresh(items, rv, changes, send_initial) => {
            for obj in items.iter().filter(|o| spec.selects(o)) {
                if !em.send(&spec, &shared, "ADDED", obj).await || em.cut(&spec) {
                    return;
                }
            }
            if send_initial && !em.bookmark(&spec, rv, true).await {
                return;
            }
            (changes, rv)
        }
    };
    let deadline = [spec.timeout, spec.cut.and_then(|c| c.after)]
        .into_iter()
        .flatten()
        .min();
    let end = async {
        match deadline {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(end);
    let mut bookmark_tick = tokio::time::interval(shared.bookmark_interval);
    bookmark_tick.tick().await;
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(change) => {
                    if change.rv <= last_rv {
                        continue;
                    }
                    last_rv = change.rv;
                    if let Some(kind) = translate(&spec, &change)
                        && (!em.send(&spec, &shared, kind.as_str(), &change.object).await || em.cut(&spec)) {
                            return;
                        }
                }
                // Fell too far behind, or the store is gone: end the stream; the client resumes.
                Err(_) => return,
            },
            _ = bookmark_tick.tick(), if spec.bookmarks => {
                if !em.bookmark(&spec, last_rv.max(shared.api.store.resource_version()), false).await {
                    return;
                }
            }
            _ = &mut end => return,
            _ = shutdown.changed() => return,
            _ = em.tx.closed() => return,
        }
    }
}

async fn pod_log(
    s: &Arc<Shared>,
    ns: String,
    pod: String,
    q: HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let pods = s
        .api
        .registry
        .find("", "v1", "pods")
        .expect("pods are built in");
    let obj = s.api.get(pods, &ns, &pod)?;
    let names = |field: &str| -> Vec<String> {
        obj.value["spec"][field]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (containers, init) = (names("containers"), names("initContainers"));
    let container = match q.get("container") {
        Some(c) if !containers.contains(c) && !init.contains(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {pod}"
            )));
        }
        Some(c) => c.clone(),
        None if containers.len() > 1 || !init.is_empty() => {
            let init = if init.is_empty() {
                String::new()
            } else {
                format!(" or one of the init containers: [{}]", init.join(" "))
            };
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod}, choose one of: [{}]{init}",
                containers.join(" ")
            )));
        }
        None => containers.first().cloned().unwrap_or_default(),
    };
    if s.faults.kubelet_unreachable() {
        // kube-apiserver's answer when it cannot dial the node's kubelet.
        let node = obj.value["status"]["hostIP"]
            .as_str()
            .unwrap_or("127.0.0.1");
        return Err(ApiError::internal_as_is(format!(
            "Get \"https://{node}:10250/containerLogs/{ns}/{pod}/{container}\": dial tcp {node}:10250: connect: connection refused"
        )));
    }
    let status = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .filter_map(|f| obj.value["status"][f].as_array())
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    if truthy(&q, "previous") && status["lastState"]["terminated"].is_null() {
        // The kubelet's words: there is no earlier run of it.
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{pod}\" not found"
        )));
    }
    if let Some(reason) = status["state"]["waiting"]["reason"].as_str() {
        // The kubelet's words for the common pending failures.
        let why = match reason {
            "ErrImagePull" => "image can't be pulled".to_string(),
            "ImagePullBackOff" => "trying and failing to pull image".to_string(),
            r => r.to_string(),
        };
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" is waiting to start: {why}"
        )));
    }
    let log = s.api.store.log(&ns, &pod);
    if log.is_none() && obj.value["status"]["phase"] == "Pending" {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
        )));
    }
    let mut text = log.unwrap_or_default();
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        let lines: Vec<&str> = text.lines().collect();
        let keep = lines[lines.len().saturating_sub(n)..].join("\n");
        text = if keep.is_empty() { keep } else { keep + "\n" };
    }
    if let Some(n) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        let mut cut = n.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if !truthy(&q, "follow") {
        return Ok(respond(200, "text/plain", text.into_bytes(), false));
    }
    // Follow: stream what is there, then appends, until the pod ends or goes.
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let shared = s.clone();
    let mut sent = s.api.store.log(&ns, &pod).map_or(0, |l| l.len());
    let _ = tx.try_send(Bytes::from(text));
    tokio::spawn(async move {
        let mut logs = shared.api.store.watch_logs();
        let mut changes = shared.api.store.subscribe();
        let mut shutdown = shared.shutdown.clone();
        loop {
            let current = shared.api.store.get(pods, &ns, &pod);
            if let Some(log) = shared.api.store.log(&ns, &pod)
                && log.len() > sent
            {
                if tx.send(Bytes::from(log[sent..].to_string())).await.is_err() {
                    return;
                }
                sent = log.len();
            }
            let finished = current.as_ref().is_none_or(|p| {
                matches!(
                    p.value["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                )
            });
            if finished {
                return;
            }
            tokio::select! {
                _ = logs.changed() => {}
                _ = changes.recv() => {}
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(stream_body(rx))
        .map_err(ApiError::internal)
}

/// `/sandbox/v1/...`: faults, the request log, loading objects.
async fn control_endpoint(
    s: &Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/sandbox/v1/requests") => Ok(json_response(200, &json!(s.requests()))),
        (Method::DELETE, "/sandbox/v1/requests") => {
            s.clear_requests();
            Ok(json_response(200, &json!({})))
        }
        (Method::GET, "/sandbox/v1/faults") => Ok(json_response(200, &json!(s.faults.list()))),
        (Method::POST, "/sandbox/v1/faults") => {
            let body = read_body(req).await?;
            let fault: Fault = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))?;
            s.add_fault(fault.clone());
            Ok(json_response(201, &json!(fault)))
        }
        (Method::DELETE, "/sandbox/v1/faults") => {
            s.faults.clear();
            Ok(json_response(200, &json!({})))
        }
        (Method::POST, "/sandbox/v1/push") => {
            let body = read_body(req).await?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid push: {e}")))?;
            let sim = s
                .sim
                .get()
                .ok_or_else(|| ApiError::bad_request("this scenario has no simulation"))?;
            let s_ = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let kind = v["kind"].as_str().unwrap_or("GitRepository").to_string();
            let revision = sim
                .push(&kind, &s_("namespace"), &s_("name"), &s_("image"))
                .map_err(ApiError::bad_request)?;
            Ok(json_response(201, &json!({ "revision": revision })))
        }
        (Method::POST, "/sandbox/v1/fix") => {
            let body = read_body(req).await?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid fix: {e}")))?;
            let sim = s
                .sim
                .get()
                .ok_or_else(|| ApiError::bad_request("this scenario has no simulation"))?;
            sim.fix_job(
                v["namespace"].as_str().unwrap_or(""),
                v["name"].as_str().unwrap_or(""),
            )
            .map_err(ApiError::bad_request)?;
            Ok(json_response(200, &json!({})))
        }
        (Method::POST, "/sandbox/v1/objects") => {
            let body = read_body(req).await?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid object: {e}")))?;
            let items = if v["kind"] == "List" {
                v["items"].as_array().cloned().unwrap_or_default()
            } else {
                vec![v]
            };
            for item in items {
                s.api.load(item).map_err(ApiError::bad_request)?;
            }
            Ok(json_response(201, &json!({})))
        }
        _ => Err(ApiError::no_route()),
    }
}
