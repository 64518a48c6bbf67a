//! The only writes jobgate makes: a reconcile request (an annotation, by merge
//! patch, as field manager `jobgate` — never a `kubectl…` name, whose fields
//! Flux strips), and the deletion of a Job (uid precondition, Background
//! propagation so its Pods go too).

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};

use super::list::{JOBS, KUSTOMIZATIONS, Resource, SOURCES};
use super::retry::Verb;
use super::{Cluster, ClusterError};

/// The field manager of every write (never `kubectl…`: Flux strips those managers' fields).
pub const FIELD_MANAGER: &str = "jobgate";
const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// What a Job deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Marked for deletion, but held by these finalizers until their
    /// controllers release it.
    Held(Vec<String>),
    /// It was gone already.
    AlreadyGone,
    /// Something else now has that name (the uid differs): nothing was deleted.
    Replaced,
}

fn api_resource(r: Resource) -> ApiResource {
    ApiResource {
        group: r.group.into(),
        version: r.version.into(),
        api_version: format!("{}/{}", r.group, r.version),
        kind: r.kind.into(),
        plural: r.plural.into(),
    }
}

impl Cluster {
    async fn request(&self, res: Resource, ns: &str, name: &str) -> Result<String, ClusterError> {
        let token = jiff::Timestamp::now().to_string();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &api_resource(res));
        let patch = serde_json::json!({ "metadata": { "annotations": { REQUESTED_AT: token } } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let started = std::time::Instant::now();
        let what = format!("patch {} {ns}/{name}", res.plural);
        let merge = Patch::Merge(&patch);
        self.retrying(&what, Verb::Write, || api.patch(name, &params, &merge))
            .await
            .map_err(|e| self.fail(e))?;
        self.log(
            started,
            &format!("{what} (reconcile.fluxcd.io/requestedAt={token})"),
        );
        Ok(token)
    }

    /// Asks Flux to reconcile a Kustomization now; returns the request's token.
    pub async fn request_reconcile(&self, ns: &str, name: &str) -> Result<String, ClusterError> {
        self.request(KUSTOMIZATIONS, ns, name).await
    }

    /// Asks source-controller to fetch a source now; `None` for a kind jobgate does not know.
    pub async fn request_source(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, ClusterError> {
        match SOURCES.iter().find(|r| r.kind == kind) {
            Some(r) => self.request(*r, ns, name).await.map(Some),
            None => Ok(None),
        }
    }

    /// Deletes one Job, only if it is still the one with `uid`.
    pub async fn delete_job(
        &self,
        ns: &str,
        name: &str,
        uid: &str,
    ) -> Result<Deletion, ClusterError> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &api_resource(JOBS));
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        let started = std::time::Instant::now();
        let what = format!("delete jobs {ns}/{name} (uid {uid})");
        let answer = self
            .retrying(&what, Verb::Write, || api.delete(name, &params))
            .await;
        self.log(started, &what);
        match answer {
            // The object back (not a Status): it still exists, marked for deletion.
            Ok(answer) => match answer.left().and_then(|job| job.metadata.finalizers) {
                Some(held) if !held.is_empty() => Ok(Deletion::Held(held)),
                _ => Ok(Deletion::Deleted),
            },
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Deletion::AlreadyGone),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Deletion::Replaced),
            Err(e) => Err(self.fail(e)),
        }
    }
}
