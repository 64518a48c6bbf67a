//! A Git checkout laid out like the Flux guide, rendered as kustomize-controller
//! would render it, without kustomize: the Flux Kustomizations it holds, and
//! for each the objects its `path` builds to. The caller reads the files; this
//! is pure. Plain `kustomization.yaml` files are followed (`resources`,
//! `namespace`, `namePrefix`/`nameSuffix`, `images`, `commonLabels`,
//! `commonAnnotations`, `patches`, `patchesStrategicMerge`,
//! `patchesJson6902`); what it does not understand (components, remote
//! bases, generators, Helm charts, replacements...) is reported as not
//! checked, never guessed.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::subject::{Location, Manifest, NotChecked, Subject};
use crate::model::flux::{Inventory, InventoryEntry, Kustomization};

/// The files of a checkout: paths relative to its root, `/`-separated, and
/// their text.
pub type Files = BTreeMap<String, String>;

/// A file that cannot be read as YAML: where, and why, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// One YAML document of a file, and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    pub location: Location,
}

/// The documents of one file, each with the line it starts on. Empty
/// documents (a leading `---`, comments only) are skipped.
pub fn documents(file: &str, text: &str) -> Result<Vec<Document>, YamlError> {
    let mut docs = vec![];
    let mut start = 1;
    let mut chunk = String::new();
    let mut flush = |chunk: &mut String, start: usize| -> Result<(), YamlError> {
        let text = std::mem::take(chunk);
        if text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        }) {
            return Ok(());
        }
        let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
            YamlError {
                file: file.to_string(),
                line: start + line.saturating_sub(1),
                column,
                message: one_sentence(&e.without_snippet().to_string()),
            }
        })?;
        if !value.is_null() {
            // The document starts at its first line that is not blank or a comment.
            let skipped = text
                .lines()
                .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                .count();
            docs.push(Document {
                value,
                location: Location {
                    file: file.to_string(),
                    line: start + skipped,
                },
            });
        }
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
            flush(&mut chunk, start)?;
            start = i + 2;
            continue;
        }
        chunk.push_str(line);
        chunk.push('\n');
    }
    flush(&mut chunk, start)?;
    Ok(docs)
}

/// The first line of a parser's message, without its own position suffix.
fn one_sentence(message: &str) -> String {
    let first = message.lines().next().unwrap_or("").trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    first.to_string()
}

/// A repository that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoError {
    Yaml(YamlError),
    /// The root holds no Flux Kustomization.
    NoKustomizations,
}

impl std::fmt::Display for RepoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoError::Yaml(e) => write!(f, "{e}"),
            RepoError::NoKustomizations => write!(
                f,
                "no Flux Kustomization (kustomize.toolkit.fluxcd.io) found in any .yaml or .yml file"
            ),
        }
    }
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Flux's source kinds, kept so stages can be compared by source.
const SOURCE_KINDS: [&str; 4] = [
    "GitRepository",
    "OCIRepository",
    "Bucket",
    "ExternalArtifact",
];

/// Renders a checkout: the Flux Kustomizations in the files under `within`
/// (`""`: anywhere; their namespace `default` when unset), each with an
/// inventory of what its path, relative to the root, builds to.
pub fn render(files: &Files, within: &str) -> Result<Subject, RepoError> {
    let repo = Repo::read(files)?;
    let mut subject = Subject::default();
    let mut kustomizations = vec![];
    let inside = |file: &str| {
        within.is_empty()
            || file
                .strip_prefix(within)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    for doc in repo
        .parsed
        .iter()
        .filter(|(file, _)| inside(file))
        .flat_map(|(_, docs)| docs)
    {
        let v = &doc.value;
        let group = v["apiVersion"].as_str().unwrap_or("");
        let kind = v["kind"].as_str().unwrap_or("");
        if group.starts_with("kustomize.toolkit.fluxcd.io/") && kind == "Kustomization" {
            kustomizations.push(doc);
        } else if group.starts_with("source.toolkit.fluxcd.io/")
            && SOURCE_KINDS.contains(&kind)
            && let Ok(source) = serde_json::from_value(defaulted(v))
        {
            subject.snapshot.add_sources([source]);
        }
    }
    if kustomizations.is_empty() {
        return Err(RepoError::NoKustomizations);
    }
    let mut decoded = vec![];
    let mut jobs = vec![];
    for doc in kustomizations {
        let mut ks: Kustomization = match serde_json::from_value(defaulted(&doc.value)) {
            Ok(ks) => ks,
            Err(e) => {
                subject.not_checked.push(NotChecked {
                    what: format!("{}:{}", doc.location.file, doc.location.line),
                    why: format!("the Kustomization does not decode: {e}"),
                });
                continue;
            }
        };
        let key = ks.key();
        let mut notes = vec![];
        let built = repo
            .build_path(&ks.spec.path, &mut notes)
            .map_err(RepoError::Yaml)?;
        let objects = built.unwrap_or_else(|| {
            subject
                .missing_paths
                .insert(key.clone(), ks.spec.path.to_string());
            vec![]
        });
        let target = ks.spec.target_namespace.clone().filter(|t| !t.is_empty());
        let objects: Vec<(Value, Location)> = objects
            .into_iter()
            .map(|(mut v, at)| {
                if let Some(t) = &target
                    && is_namespaced(&v)
                {
                    set(&mut v, &["metadata", "namespace"], json!(t));
                }
                (v, at)
            })
            .collect();
        ks.status.inventory = Some(Inventory {
            entries: objects.iter().map(|(v, _)| inventory_entry(v)).collect(),
        });
        let mut manifests = vec![];
        for (v, at) in &objects {
            if let Ok(mut m) = serde_json::from_value::<Manifest>(v.clone()) {
                m.location = Some(at.clone());
                if m.is_job()
                    && !m.metadata.name.is_empty()
                    && let Ok(job) = serde_json::from_value(v.clone())
                {
                    jobs.push(job);
                }
                manifests.push(m);
            }
        }
        subject
            .not_checked
            .extend(notes.into_iter().map(|why| NotChecked {
                what: format!("stage {key}"),
                why,
            }));
        subject.objects.insert(key.clone(), manifests);
        subject.locations.insert(key, doc.location.clone());
        decoded.push(ks);
    }
    subject.snapshot.add_kustomizations(decoded);
    subject.snapshot.add_jobs(jobs);
    Ok(subject)
}

/// The objects a Flux Kustomization whose `path` is `path` applies (before
/// its `targetNamespace`), as JSON.
pub fn build(files: &Files, path: &str) -> Result<Vec<Value>, RepoError> {
    let built = Repo::read(files)?
        .build_path(path, &mut vec![])
        .map_err(RepoError::Yaml)?;
    Ok(built
        .unwrap_or_default()
        .into_iter()
        .map(|(v, _)| v)
        .collect())
}

/// An object with `metadata.namespace: default` when it has none, as the
/// apiserver would default a Flux object applied without one.
fn defaulted(v: &Value) -> Value {
    let mut v = v.clone();
    if v["metadata"]["namespace"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        set(&mut v, &["metadata", "namespace"], json!("default"));
    }
    v
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml")
        || path.ends_with(".yml")
        || path.ends_with("/Kustomization")
        || path == "Kustomization"
}

/// Kinds kustomize and the apiserver treat as cluster-scoped.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "CSIDriver",
    "Node",
];

fn is_namespaced(v: &Value) -> bool {
    !CLUSTER_SCOPED.contains(&v["kind"].as_str().unwrap_or(""))
}

/// `<namespace>_<name>_<group>_<Kind>`, as Flux writes an inventory id.
fn inventory_entry(v: &Value) -> InventoryEntry {
    let api = v["apiVersion"].as_str().unwrap_or("");
    let (group, version) = api.split_once('/').unwrap_or(("", api));
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    InventoryEntry {
        id: smol_str::format_smolstr!(
            "{}_{}_{}_{}",
            s("/metadata/namespace"),
            s("/metadata/name"),
            group,
            s("/kind")
        ),
        v: version.into(),
    }
}

/// Joins a relative path onto a directory, resolving `.` and `..`; `None`
/// when it climbs out of the root.
fn join(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        vec![]
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

struct Repo<'a> {
    files: &'a Files,
    parsed: BTreeMap<&'a str, Vec<Document>>,
}

type Built = Vec<(Value, Location)>;

/// Deep enough for any real overlay, and a stop for a base that includes itself.
const MAX_DEPTH: usize = 20;

impl<'a> Repo<'a> {
    /// Every YAML file parsed: the first malformed one stops the read.
    fn read(files: &'a Files) -> Result<Self, RepoError> {
        let mut parsed = BTreeMap::new();
        for (file, text) in files {
            if is_yaml(file) {
                parsed.insert(
                    file.as_str(),
                    documents(file, text).map_err(RepoError::Yaml)?,
                );
            }
        }
        Ok(Repo { files, parsed })
    }

    fn is_dir(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        dir.is_empty() || self.files.keys().any(|f| f.starts_with(&prefix))
    }

    fn kustomization_file(&self, dir: &str) -> Option<String> {
        KUSTOMIZATION_FILES
            .iter()
            .map(|f| join(dir, f).unwrap_or_default())
            .find(|f| self.files.contains_key(f))
    }

    fn docs(&self, file: &str) -> &[Document] {
        self.parsed.get(file).map_or(&[], Vec::as_slice)
    }

    /// What a Flux Kustomization's `path` builds to; `None` when it is not a
    /// directory of the repository.
    fn build_path(&self, path: &str, notes: &mut Vec<String>) -> Result<Option<Built>, YamlError> {
        let Some(dir) = join("", path).filter(|d| self.is_dir(d)) else {
            return Ok(None);
        };
        match self.kustomization_file(&dir) {
            Some(file) => self.build_kustomization(&dir, &file, notes, 0),
            None => self.build_generated(&dir, notes, 0),
        }
        .map(Some)
    }

    /// kustomize-controller's generated kustomization: every YAML file under
    /// `dir`, and each sub-directory holding a kustomization.yaml as one
    /// resource (not descended into).
    fn build_generated(
        &self,
        dir: &str,
        notes: &mut Vec<String>,
        depth: usize,
    ) -> Result<Built, YamlError> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut built = vec![];
        let mut bases: Vec<String> = vec![];
        for file in self.files.keys().filter(|f| f.starts_with(&prefix)) {
            let rel = &file[prefix.len()..];
            // A sub-directory with its own kustomization file is one resource.
            let mut base = None;
            let mut at = String::new();
            for part in rel
                .split('/')
                .collect::<Vec<_>>()
                .iter()
                .rev()
                .skip(1)
                .rev()
            {
                at = if at.is_empty() {
                    format!("{prefix}{part}")
                } else {
                    format!("{at}/{part}")
                };
                if self.kustomization_file(&at).is_some() {
                    base = Some(at.clone());
                    break;
                }
            }
            match base {
                Some(b) if !bases.contains(&b) => bases.push(b),
                Some(_) => {}
                None if file.ends_with(".yaml") || file.ends_with(".yml") => {
                    built.extend(
                        self.docs(file)
                            .iter()
                            .map(|d| (d.value.clone(), d.location.clone())),
                    );
                }
                None => {}
            }
        }
        for b in bases {
            let file = self.kustomization_file(&b).unwrap_or_default();
            built.extend(self.build_kustomization(&b, &file, notes, depth + 1)?);
        }
        Ok(built)
    }

    fn build_kustomization(
        &self,
        dir: &str,
        file: &str,
        notes: &mut Vec<String>,
        depth: usize,
    ) -> Result<Built, YamlError> {
        if depth > MAX_DEPTH {
            notes.push(format!(
                "{file}: bases nested deeper than {MAX_DEPTH} (a loop?)"
            ));
            return Ok(vec![]);
        }
        let Some(k) = self.docs(file).first().map(|d| &d.value) else {
            return Ok(vec![]);
        };
        for (field, what) in [
            ("components", "components"),
            ("configMapGenerator", "generators"),
            ("secretGenerator", "generators"),
            ("generators", "generators"),
            ("helmCharts", "Helm charts"),
            ("helmChartInflationGenerator", "Helm charts"),
            ("replacements", "replacements"),
            ("transformers", "transformers"),
            ("vars", "vars"),
            ("openapi", "openapi"),
        ] {
            if !k[field].is_null() {
                notes.push(format!(
                    "{file}: lint does not understand kustomize {what} ({field}): objects they make or change are not checked"
                ));
            }
        }
        let mut built = vec![];
        for r in strings(&k["resources"]).chain(strings(&k["bases"])) {
            if r.contains("://") || r.starts_with("github.com/") || r.starts_with("git@") {
                notes.push(format!("{file}: remote base {r} is not read"));
                continue;
            }
            let Some(path) = join(dir, r) else {
                notes.push(format!("{file}: resource {r} leaves the repository"));
                continue;
            };
            if self.files.contains_key(&path) {
                built.extend(
                    self.docs(&path)
                        .iter()
                        .map(|d| (d.value.clone(), d.location.clone())),
                );
            } else if let Some(inner) = self.kustomization_file(&path) {
                built.extend(self.build_kustomization(&path, &inner, notes, depth + 1)?);
            } else {
                notes.push(format!("{file}: resource {r} is neither a file nor a directory with a kustomization.yaml (kustomize fails the build)"));
            }
        }
        self.patch(dir, file, k, &mut built, notes);
        transform(k, &mut built);
        Ok(built)
    }

    /// Applies `patches`, `patchesStrategicMerge` and `patchesJson6902`.
    fn patch(&self, dir: &str, file: &str, k: &Value, built: &mut Built, notes: &mut Vec<String>) {
        let load = |entry: &Value| -> Option<Vec<Value>> {
            if let Some(p) = entry["path"].as_str() {
                let path = join(dir, p)?;
                Some(self.docs(&path).iter().map(|d| d.value.clone()).collect())
            } else if let Some(text) = entry["patch"].as_str() {
                documents(file, text)
                    .ok()
                    .map(|d| d.into_iter().map(|d| d.value).collect())
            } else {
                None
            }
        };
        let mut patches: Vec<(Value, Option<Value>)> = vec![];
        for entry in k["patches"].as_array().into_iter().flatten() {
            match load(entry) {
                Some(docs) => {
                    patches.extend(docs.into_iter().map(|d| (d, Some(entry["target"].clone()))))
                }
                None => notes.push(format!(
                    "{file}: a patch that lint cannot read (no path or patch)"
                )),
            }
        }
        for entry in k["patchesStrategicMerge"].as_array().into_iter().flatten() {
            let docs: Option<Vec<Value>> = match entry.as_str() {
                Some(s) if !s.contains('\n') => {
                    join(dir, s).map(|p| self.docs(&p).iter().map(|d| d.value.clone()).collect())
                }
                Some(s) => documents(file, s)
                    .ok()
                    .map(|d| d.into_iter().map(|d| d.value).collect()),
                None => None,
            };
            patches.extend(docs.unwrap_or_default().into_iter().map(|d| (d, None)));
        }
        for entry in k["patchesJson6902"].as_array().into_iter().flatten() {
            if let Some(docs) = load(entry) {
                patches.extend(docs.into_iter().map(|d| (d, Some(entry["target"].clone()))));
            }
        }
        for (patch, target) in patches {
            let target = target.filter(|t| t.is_object());
            let hits: Vec<usize> = built
                .iter()
                .enumerate()
                .filter(|(_, (obj, _))| match &target {
                    Some(t) => targets(t, obj),
                    // A strategic merge patch names its object.
                    None => {
                        patch["kind"] == obj["kind"]
                            && patch["metadata"]["name"] == obj["metadata"]["name"]
                    }
                })
                .map(|(i, _)| i)
                .collect();
            if hits.is_empty() {
                notes.push(format!(
                    "{file}: a patch matches no object (kustomize fails the build)"
                ));
            }
            for i in hits {
                let obj = &mut built[i].0;
                match &patch {
                    Value::Array(ops) => {
                        if let Err(why) = json_patch(obj, ops) {
                            notes.push(format!("{file}: a JSON patch does not apply: {why}"));
                        }
                    }
                    p => strategic_merge(obj, p),
                }
            }
        }
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Whether a kustomize patch target selects the object (by kind, name,
/// namespace, group and version; label and annotation selectors as
/// `key=value` lists).
fn targets(t: &Value, obj: &Value) -> bool {
    let api = obj["apiVersion"].as_str().unwrap_or("");
    let (group, version) = api.split_once('/').unwrap_or(("", api));
    let eq = |field: &str, have: &str| t[field].as_str().is_none_or(|want| want == have);
    let selected = |selector: &str, of: &Value| {
        selector
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .all(|pair| match pair.split_once('=') {
                Some((k, v)) => of[k.trim()].as_str() == Some(v.trim()),
                None => !of[pair].is_null(),
            })
    };
    eq("kind", obj["kind"].as_str().unwrap_or(""))
        && eq("name", obj["metadata"]["name"].as_str().unwrap_or(""))
        && eq(
            "namespace",
            obj["metadata"]["namespace"].as_str().unwrap_or(""),
        )
        && eq("group", group)
        && eq("version", version)
        && t["labelSelector"]
            .as_str()
            .is_none_or(|s| selected(s, &obj["metadata"]["labels"]))
        && t["annotationSelector"]
            .as_str()
            .is_none_or(|s| selected(s, &obj["metadata"]["annotations"]))
}

/// A strategic merge patch, as far as the checked fields need: maps merge,
/// `null` deletes, lists of objects with a `name` merge by name (containers,
/// env, ports), other lists are replaced.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, pv) in p {
                if pv.is_null() {
                    t.remove(k);
                } else {
                    strategic_merge(t.entry(k.clone()).or_insert(Value::Null), pv);
                }
            }
        }
        (Value::Array(t), Value::Array(p))
            if p.iter().chain(t.iter()).all(|e| e["name"].is_string()) && !p.is_empty() =>
        {
            for pe in p {
                match t.iter_mut().find(|te| te["name"] == pe["name"]) {
                    Some(te) => strategic_merge(te, pe),
                    None => t.push(pe.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// RFC 6902: `add`, `remove`, `replace`, `move`, `copy`, `test`.
pub fn json_patch(target: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let path = op["path"].as_str().ok_or("an operation without a path")?;
        let name = op["op"].as_str().unwrap_or("");
        match name {
            "add" => add(target, path, op["value"].clone())?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                let at = target
                    .pointer_mut(path)
                    .ok_or_else(|| format!("{path} does not exist"))?;
                *at = op["value"].clone();
            }
            "move" | "copy" => {
                let from = op["from"].as_str().ok_or("move/copy without from")?;
                let value = if name == "move" {
                    remove(target, from)?
                } else {
                    target
                        .pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("{from} does not exist"))?
                };
                add(target, path, value)?;
            }
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("{path:?} is not a JSON pointer"))?;
    Ok((parent, unescape(last)))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse().map_err(|_| format!("{path}: not an index"))?
            };
            if i > a.len() {
                return Err(format!("{path}: index out of range"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("{parent} does not exist")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => m
            .remove(&last)
            .ok_or_else(|| format!("{path} does not exist")),
        Some(Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| format!("{path}: not an index"))?;
            (i < a.len())
                .then(|| a.remove(i))
                .ok_or_else(|| format!("{path}: index out of range"))
        }
        _ => Err(format!("{parent} does not exist")),
    }
}

/// `namespace`, `namePrefix`/`nameSuffix`, `commonLabels`/`labels`,
/// `commonAnnotations` and `images`, applied after the patches as kustomize does.
fn transform(k: &Value, built: &mut Built) {
    let namespace = k["namespace"].as_str().filter(|n| !n.is_empty());
    let prefix = k["namePrefix"].as_str().unwrap_or("");
    let suffix = k["nameSuffix"].as_str().unwrap_or("");
    for (obj, _) in built.iter_mut() {
        if !obj.is_object() {
            continue;
        }
        if let Some(ns) = namespace
            && is_namespaced(obj)
        {
            set(obj, &["metadata", "namespace"], json!(ns));
        }
        if (!prefix.is_empty() || !suffix.is_empty())
            && obj["kind"] != "Namespace"
            && let Some(name) = obj["metadata"]["name"].as_str().filter(|n| !n.is_empty())
        {
            let renamed = json!(format!("{prefix}{name}{suffix}"));
            set(obj, &["metadata", "name"], renamed);
        }
        for (field, to) in [
            ("commonLabels", "labels"),
            ("commonAnnotations", "annotations"),
        ] {
            if let Some(add) = k[field].as_object() {
                merge_strings(obj, to, add);
            }
        }
        for entry in k["labels"].as_array().into_iter().flatten() {
            if let Some(add) = entry["pairs"].as_object() {
                merge_strings(obj, "labels", add);
            }
        }
        for image in k["images"].as_array().into_iter().flatten() {
            set_images(obj, image);
        }
    }
}

/// Adds string pairs to `metadata.<to>` (labels, annotations).
fn merge_strings(obj: &mut Value, to: &str, add: &Map<String, Value>) {
    for (k, v) in add {
        set(obj, &["metadata", to, k], v.clone());
    }
}

/// Sets the value at a path of keys, making the objects on the way; does
/// nothing where something else than an object is in the way (a document
/// whose `metadata` is a string is left as it is written).
fn set(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = v;
    for key in parents {
        if at.is_null() {
            *at = json!({});
        }
        let Some(m) = at.as_object_mut() else {
            return;
        };
        at = m.entry(key.to_string()).or_insert(Value::Null);
    }
    if at.is_null() {
        *at = json!({});
    }
    if let Some(m) = at.as_object_mut() {
        m.insert(last.to_string(), value);
    }
}

/// One `images:` entry applied to every container of the object's pod template.
fn set_images(obj: &mut Value, image: &Value) {
    let Some(name) = image["name"].as_str() else {
        return;
    };
    for pointer in [
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
        "/spec",
    ] {
        let Some(spec) = obj.pointer_mut(pointer) else {
            continue;
        };
        for list in ["initContainers", "containers"] {
            let containers = spec.get_mut(list).and_then(Value::as_array_mut);
            for c in containers.into_iter().flatten() {
                let Some(current) = c["image"].as_str() else {
                    continue;
                };
                let (repo, tag) = split_image(current);
                if repo != name {
                    continue;
                }
                let repo = image["newName"].as_str().unwrap_or(repo);
                let new = match (image["digest"].as_str(), image["newTag"].as_str(), tag) {
                    (Some(d), _, _) => format!("{repo}@{d}"),
                    (None, Some(t), _) => format!("{repo}:{t}"),
                    (None, None, Some(t)) => format!("{repo}{t}"),
                    (None, None, None) => repo.to_string(),
                };
                set(c, &["image"], json!(new));
            }
        }
        if pointer != "/spec" {
            return;
        }
    }
}

/// `repo:tag` → (`repo`, `:tag`); `repo@digest` → (`repo`, `@digest`).
fn split_image(image: &str) -> (&str, Option<&str>) {
    if let Some(i) = image.find('@') {
        return (&image[..i], Some(&image[i..]));
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i..])),
        None => (image, None),
    }
}
