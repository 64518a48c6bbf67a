//! The resources the sandbox serves: the built-in ones it knows by heart and
//! the custom ones it installs from real CRD manifests (Flux's own, copied into
//! `crds/`). Everything that differs between resources — scope, subresources,
//! printer columns, generation rules — is data here, not a branch elsewhere.

use serde_json::Value;

/// Index of a resource in the [`Registry`].
pub type ResourceId = usize;

/// Where a printer column takes its value from.
#[derive(Debug, Clone)]
pub enum ColumnSource {
    /// A kubectl-style JSONPath from a CRD's `additionalPrinterColumns`.
    JsonPath(String),
    /// One of the hand-written columns of a built-in resource (see `table.rs`).
    Builtin(&'static str),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub priority: i64,
    pub description: String,
    pub source: ColumnSource,
}

#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Served from a CustomResourceDefinition: list items keep kind/apiVersion,
    /// strategic merge is refused, updates need a resourceVersion, and any
    /// change outside metadata and status bumps the generation.
    pub custom: bool,
    pub status_subresource: bool,
    /// `metadata.generation` is maintained (bumped on spec changes).
    pub tracks_generation: bool,
    /// Another resource whose storage this one shares (events.k8s.io/v1 → v1 events).
    pub storage_of: Option<ResourceId>,
    pub columns: Vec<Column>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The URL prefix of this resource's group version: `/api/v1` or `/apis/batch/v1`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// The resources a sandbox serves, looked up by group/version/plural.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: Vec<ResourceDef>,
}

/// The Flux CRDs the sandbox can install, by short name.
pub const FLUX_CRDS: &[(&str, &str)] = &[
    (
        "kustomizations",
        include_str!("../crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
    ),
    (
        "gitrepositories",
        include_str!("../crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
    ),
    (
        "ocirepositories",
        include_str!("../crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
    ),
];

fn col(name: &str, type_: &str, format: &str, priority: i64, source: &'static str) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: format.into(),
        priority,
        description: String::new(),
        source: ColumnSource::Builtin(source),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "a table of built-in resources reads best as positional rows"
)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    generation: bool,
    columns: Vec<Column>,
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        custom: false,
        status_subresource: status,
        tracks_generation: generation,
        storage_of: None,
        columns,
    }
}

impl Registry {
    /// The built-in resources only: a cluster without Flux.
    pub fn builtin() -> Self {
        let name = || col("Name", "string", "name", 0, "name");
        let age = || col("Age", "string", "", 0, "age");
        let mut defs = vec![
            builtin(
                "",
                "v1",
                "Namespace",
                "namespaces",
                false,
                &["ns"],
                true,
                false,
                vec![
                    name(),
                    col("Status", "string", "", 0, "namespace.phase"),
                    age(),
                ],
            ),
            builtin(
                "",
                "v1",
                "Pod",
                "pods",
                true,
                &["po"],
                true,
                false,
                vec![
                    name(),
                    col("Ready", "string", "", 0, "pod.ready"),
                    col("Status", "string", "", 0, "pod.status"),
                    col("Restarts", "string", "", 0, "pod.restarts"),
                    age(),
                    col("IP", "string", "", 1, "pod.ip"),
                    col("Node", "string", "", 1, "pod.node"),
                ],
            ),
            builtin(
                "",
                "v1",
                "Event",
                "events",
                true,
                &["ev"],
                false,
                false,
                vec![
                    col("Last Seen", "string", "", 0, "event.lastSeen"),
                    col("Type", "string", "", 0, "event.type"),
                    col("Reason", "string", "", 0, "event.reason"),
                    col("Object", "string", "", 0, "event.object"),
                    col("Message", "string", "", 0, "event.message"),
                ],
            ),
            builtin(
                "batch",
                "v1",
                "Job",
                "jobs",
                true,
                &[],
                true,
                true,
                vec![
                    name(),
                    col("Status", "string", "", 0, "job.status"),
                    col("Completions", "string", "", 0, "job.completions"),
                    col("Duration", "string", "", 0, "job.duration"),
                    age(),
                    col("Containers", "string", "", 1, "containers"),
                    col("Images", "string", "", 1, "images"),
                ],
            ),
            builtin(
                "apps",
                "v1",
                "Deployment",
                "deployments",
                true,
                &["deploy"],
                true,
                true,
                vec![
                    name(),
                    col("Ready", "string", "", 0, "deployment.ready"),
                    col("Up-to-date", "integer", "", 0, "deployment.updated"),
                    col("Available", "integer", "", 0, "deployment.available"),
                    age(),
                ],
            ),
        ];
        for d in &mut defs {
            if ["pods", "jobs", "deployments"].contains(&d.plural.as_str()) {
                d.categories = vec!["all".into()];
            }
        }
        let core_events = 2;
        let mut ev = builtin(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            true,
            &["ev"],
            false,
            false,
            defs[2].columns.clone(),
        );
        ev.storage_of = Some(core_events);
        defs.push(ev);
        Registry { defs }
    }

    /// Built-ins plus all of Flux's CRDs.
    pub fn with_flux() -> Self {
        let mut reg = Self::builtin();
        for (_, yaml) in FLUX_CRDS {
            reg.install_crd_yaml(yaml)
                .expect("the bundled CRDs are valid");
        }
        reg
    }

    /// Install a CustomResourceDefinition: one resource per served version.
    pub fn install_crd_yaml(&mut self, yaml: &str) -> Result<(), String> {
        let crd: Value =
            serde_saphyr::from_str(yaml).map_err(|e| format!("CRD is not valid YAML: {e}"))?;
        self.install_crd(&crd)
    }

    pub fn install_crd(&mut self, crd: &Value) -> Result<(), String> {
        let spec = &crd["spec"];
        let s = |v: &Value| v.as_str().map(str::to_string);
        let group = s(&spec["group"]).ok_or("CRD has no spec.group")?;
        let names = &spec["names"];
        let kind = s(&names["kind"]).ok_or("CRD has no spec.names.kind")?;
        let plural = s(&names["plural"]).ok_or("CRD has no spec.names.plural")?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for version in spec["versions"]
            .as_array()
            .ok_or("CRD has no spec.versions")?
        {
            if version["served"] != Value::Bool(true) {
                continue;
            }
            let mut columns = vec![Column {
                name: "Name".into(),
                type_: "string".into(),
                format: "name".into(),
                priority: 0,
                description: "Name must be unique within a namespace.".into(),
                source: ColumnSource::Builtin("name"),
            }];
            for c in version["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
            {
                columns.push(Column {
                    name: s(&c["name"]).unwrap_or_default(),
                    type_: s(&c["type"]).unwrap_or_else(|| "string".into()),
                    format: s(&c["format"]).unwrap_or_default(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    description: s(&c["description"]).unwrap_or_default(),
                    source: ColumnSource::JsonPath(s(&c["jsonPath"]).unwrap_or_default()),
                });
            }
            self.defs.push(ResourceDef {
                group: group.clone(),
                version: s(&version["name"]).ok_or("CRD version has no name")?,
                kind: kind.clone(),
                plural: plural.clone(),
                singular: s(&names["singular"]).unwrap_or_else(|| kind.to_lowercase()),
                namespaced: spec["scope"] != "Cluster",
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                custom: true,
                status_subresource: version["subresources"]["status"].is_object(),
                tracks_generation: true,
                storage_of: None,
                columns,
            });
        }
        Ok(())
    }

    pub fn def(&self, id: ResourceId) -> &ResourceDef {
        &self.defs[id]
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        self.defs
            .iter()
            .position(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// The resource addressed by an object's apiVersion and kind.
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<ResourceId> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.defs
            .iter()
            .position(|d| d.group == group && d.version == version && d.kind == kind)
    }

    /// The resource whose objects are actually stored (itself, or the one it shares storage with).
    pub fn storage(&self, id: ResourceId) -> ResourceId {
        self.defs[id].storage_of.unwrap_or(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = ResourceId> + '_ {
        0..self.defs.len()
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// Group names in discovery order: core first, then as installed.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = vec![];
        for d in &self.defs {
            if !d.group.is_empty() && !groups.contains(&d.group) {
                groups.push(d.group.clone());
            }
        }
        groups
    }

    pub fn versions_of(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = vec![];
        for d in self.defs.iter().filter(|d| d.group == group) {
            if !versions.contains(&d.version) {
                versions.push(d.version.clone());
            }
        }
        versions
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = ResourceId> + 'a {
        self.ids()
            .filter(move |&i| self.defs[i].group == group && self.defs[i].version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_crds_install_with_their_printer_columns() {
        let reg = Registry::with_flux();
        let ks = reg.def(
            reg.find("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
                .unwrap(),
        );
        assert!(ks.custom && ks.namespaced && ks.status_subresource);
        assert_eq!(ks.short_names, vec!["ks"]);
        let names: Vec<&str> = ks.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "Age", "Ready", "Status"]);
        assert!(
            reg.find("source.toolkit.fluxcd.io", "v1", "ocirepositories")
                .is_some()
        );
        assert!(
            Registry::builtin()
                .find("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
                .is_none()
        );
    }
}
