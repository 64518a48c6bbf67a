//! The Job controller (pods that run and succeed or fail per script,
//! back-off, deadlines, TTL, logs, conditions, Events) and Deployments that
//! become available after a delay.

use super::*;

impl Sim {
    pub(super) fn ensure_deployment(self: &Arc<Self>, obj: &Value) {
        let generation = obj["metadata"]["generation"].as_i64();
        if generation == obj["status"]["observedGeneration"].as_i64() {
            return;
        }
        let (s, key) = (self.clone(), key_of(obj));
        tokio::spawn(async move {
            s.sh.api.clock.sleep(s.timing.deployment_ready).await;
            let Some(d) = s.sh.api.store.get(s.ids.deployments, &key.0, &key.1) else {
                return;
            };
            let replicas = d.value["spec"]["replicas"].as_i64().unwrap_or(1);
            let now = s.sh.api.clock.rfc3339();
            let status = json!({
                "observedGeneration": d.value["metadata"]["generation"], "replicas": replicas, "readyReplicas": replicas,
                "updatedReplicas": replicas, "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastTransitionTime": now, "lastUpdateTime": now},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{}-6d4c8b7f9\" has successfully progressed.", key.1), "lastTransitionTime": now, "lastUpdateTime": now},
                ],
            });
            s.write_status(s.ids.deployments, &key, status, "kube-controller-manager");
        });
    }

    // ---- the Job controller -----------------------------------------------------------

    pub(super) fn ensure_job(self: &Arc<Self>, obj: &Value) {
        let done = obj["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        });
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let key = key_of(obj);
        if done || obj["spec"]["suspend"] == true {
            return;
        }
        {
            let mut running = Self::lock(&self.jobs_running);
            if running.get(&key) == Some(&uid) {
                return;
            }
            running.insert(key.clone(), uid.clone());
        }
        let s = self.clone();
        tokio::spawn(async move {
            s.run_job(&key, &uid).await;
            let mut running = Self::lock(&s.jobs_running);
            if running.get(&key) == Some(&uid) {
                running.remove(&key);
            }
        });
    }

    fn job_alive(&self, key: &Key, uid: &str) -> Option<Value> {
        self.sh
            .api
            .store
            .get(self.ids.jobs, &key.0, &key.1)
            .map(|j| j.value.clone())
            .filter(|j| j["metadata"]["uid"] == uid)
    }

    async fn run_job(&self, key: &Key, uid: &str) {
        let api = &self.sh.api;
        let script = Self::lock(&self.scripts)
            .iter()
            .find(|s| s.namespace == key.0 && s.name == key.1)
            .cloned()
            .unwrap_or(JobScript {
                namespace: key.0.clone(),
                name: key.1.clone(),
                run_seconds: 10.0,
                outcomes: vec!["succeed".into()],
                fail_when_image: None,
                log: String::new(),
                broken: false,
                waiting: None,
            });
        let Some(job) = self.job_alive(key, uid) else {
            return;
        };
        let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
        let deadline = job["spec"]["activeDeadlineSeconds"]
            .as_f64()
            .map(Duration::from_secs_f64);
        let images: Vec<String> = job["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["image"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let bad_image = script
            .fail_when_image
            .as_deref()
            .is_some_and(|g| images.iter().any(|i| glob(g, i)));
        let start = api.clock.rfc3339();
        let start_instant = tokio::time::Instant::now();
        let mut st = json!({ "startTime": start, "active": 0, "succeeded": 0, "failed": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {} });
        let mut attempt = 0usize;
        let outcome = loop {
            if self.job_alive(key, uid).is_none() {
                return;
            }
            // One pod.
            let pod = format!("{}-{}", key.1, api.random_suffix());
            let container = job["spec"]["template"]["spec"]["containers"][0]["name"]
                .as_str()
                .unwrap_or("job")
                .to_string();
            let mut labels = job["spec"]["template"]["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            // As kube-apiserver defaults a Job's pod template: by name and by uid.
            labels["batch.kubernetes.io/job-name"] = json!(key.1);
            labels["job-name"] = json!(key.1);
            labels["batch.kubernetes.io/controller-uid"] = json!(uid);
            labels["controller-uid"] = json!(uid);
            let pod_obj = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": pod, "namespace": key.0, "labels": labels,
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": key.1, "uid": uid, "controller": true, "blockOwnerDeletion": true}] },
                "spec": { "containers": job["spec"]["template"]["spec"]["containers"], "restartPolicy": "Never", "nodeName": "sandbox-node" },
            });
            let Ok(created) = api.create(
                self.ids.pods,
                Some(&key.0),
                pod_obj,
                &WriteOptions {
                    manager: JC.into(),
                    ..Default::default()
                },
            ) else {
                return;
            };
            let pod_value = created.value.clone();
            self.event(
                &job,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {pod}"),
                JC,
            );
            st["active"] = json!(1);
            self.write_status(self.ids.jobs, key, counted(&st), JC);
            self.event(
                &pod_value,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {}/{pod} to sandbox-node", key.0),
                "default-scheduler",
            );
            api.clock.sleep(self.timing.pod_start).await;
            let pkey = (key.0.clone(), pod.clone());
            if let Some(reason) = &script.waiting {
                // The container never starts (a bad image, a missing Secret):
                // the pod stays Pending until the Job is deleted or its deadline.
                let image = images.first().cloned().unwrap_or_default();
                let message = match reason.as_str() {
                    "ImagePullBackOff" | "ErrImagePull" => {
                        format!("Back-off pulling image \"{image}\"")
                    }
                    _ => String::new(),
                };
                self.write_status(self.ids.pods, &pkey, json!({"phase": "Pending", "startTime": api.clock.rfc3339(),
                    "containerStatuses": [{"name": container, "ready": false, "restartCount": 0, "image": image,
                        "state": {"waiting": {"reason": reason, "message": message}}}]}), "kubelet");
                self.event(
                    &pod_value,
                    "Warning",
                    "Failed",
                    &format!("Error: {reason}"),
                    "kubelet",
                );
                let left =
                    deadline.map(|d| api.clock.real(d).saturating_sub(start_instant.elapsed()));
                match left {
                    Some(l) => tokio::time::sleep(l).await,
                    None => loop {
                        api.clock.sleep(Duration::from_secs(60)).await;
                        if self.job_alive(key, uid).is_none() {
                            return;
                        }
                    },
                }
                if self.job_alive(key, uid).is_none() {
                    return;
                }
                break "DeadlineExceeded";
            }
            self.write_status(self.ids.pods, &pkey, json!({"phase": "Running", "podIP": "10.244.0.30", "startTime": api.clock.rfc3339(),
                "containerStatuses": [{"name": container, "ready": true, "restartCount": 0, "image": images.first(), "state": {"running": {"startedAt": api.clock.rfc3339()}}}]}), "kubelet");
            self.event(
                &pod_value,
                "Normal",
                "Started",
                &format!("Started container {container}"),
                "kubelet",
            );
            st["ready"] = json!(1);
            self.write_status(self.ids.jobs, key, counted(&st), JC);
            if !script.log.is_empty() {
                api.store.append_log(&key.0, &pod, &script.log);
            }
            // Run, unless the deadline comes first.
            let run = api.clock.real(Duration::from_secs_f64(script.run_seconds));
            let left = deadline.map(|d| api.clock.real(d).saturating_sub(start_instant.elapsed()));
            let deadline_hit = left.is_some_and(|l| l < run);
            tokio::time::sleep(left.map_or(run, |l| l.min(run))).await;
            if self.job_alive(key, uid).is_none() {
                return;
            }
            let wanted = script
                .outcomes
                .get(attempt)
                .or(script.outcomes.last())
                .map(String::as_str)
                .unwrap_or("succeed");
            let ok = !deadline_hit && !bad_image && !script.broken && wanted != "fail";
            if !ok && !deadline_hit {
                api.store.append_log(
                    &key.0,
                    &pod,
                    if bad_image {
                        "ERROR: this release cannot run the migration\n"
                    } else {
                        "ERROR: migration failed\n"
                    },
                );
            }
            let (code, reason) = if ok { (0, "Completed") } else { (1, "Error") };
            let now = api.clock.rfc3339();
            self.write_status(self.ids.pods, &pkey, json!({"phase": if ok { "Succeeded" } else { "Failed" },
                "containerStatuses": [{"name": container, "ready": false, "restartCount": 0, "image": images.first(), "state": {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now}}}]}), "kubelet");
            st["active"] = json!(0);
            st["ready"] = json!(0);
            attempt += 1;
            if deadline_hit {
                break "DeadlineExceeded";
            }
            if ok {
                st["succeeded"] = json!(st["succeeded"].as_i64().unwrap_or(0) + 1);
                if st["succeeded"].as_i64().unwrap_or(0) >= completions {
                    break "Complete";
                }
            } else {
                st["failed"] = json!(st["failed"].as_i64().unwrap_or(0) + 1);
                if st["failed"].as_i64().unwrap_or(0) > backoff_limit {
                    break "BackoffLimitExceeded";
                }
            }
            self.write_status(self.ids.jobs, key, counted(&st), JC);
            // The job controller's backoff before the next pod (10 s, doubling).
            api.clock
                .sleep(Duration::from_secs(10u64 << (attempt.min(5) - 1)))
                .await;
        };
        let now = api.clock.rfc3339();
        let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "reason": reason, "message": msg, "lastProbeTime": now, "lastTransitionTime": now});
        let (conditions, event) = match outcome {
            "Complete" => {
                st["completionTime"] = json!(now);
                let m = "Reached expected number of succeeded pods";
                (
                    vec![
                        cond("SuccessCriteriaMet", "CompletionsReached", m),
                        cond("Complete", "CompletionsReached", m),
                    ],
                    ("Normal", "Completed", "Job completed"),
                )
            }
            "DeadlineExceeded" => {
                let m = "Job was active longer than specified deadline";
                (
                    vec![
                        cond("FailureTarget", "DeadlineExceeded", m),
                        cond("Failed", "DeadlineExceeded", m),
                    ],
                    ("Warning", "DeadlineExceeded", m),
                )
            }
            _ => {
                let m = "Job has reached the specified backoff limit";
                (
                    vec![
                        cond("FailureTarget", "BackoffLimitExceeded", m),
                        cond("Failed", "BackoffLimitExceeded", m),
                    ],
                    ("Warning", "BackoffLimitExceeded", m),
                )
            }
        };
        st["conditions"] = json!(conditions);
        self.write_status(self.ids.jobs, key, counted(&st), JC);
        self.event(&job, event.0, event.1, event.2, JC);
        // ttlSecondsAfterFinished: the TTL controller deletes the Job and its pods.
        if let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_f64() {
            api.clock.sleep(Duration::from_secs_f64(ttl)).await;
            if self.job_alive(key, uid).is_some() {
                let del = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    uid: Some(uid.to_string()),
                    ..Default::default()
                };
                let _ = api.delete(self.ids.jobs, &key.0, &key.1, &del);
            }
        }
    }
}

/// A Job's status as kube-apiserver serves it: `active`, `succeeded` and
/// `failed` are `omitempty` counts, gone while zero (`ready` and `terminating`
/// are pointers, written as 0).
fn counted(status: &Value) -> Value {
    let mut out = status.clone();
    if let Some(map) = out.as_object_mut() {
        map.retain(|k, v| !(["active", "succeeded", "failed"].contains(&k.as_str()) && v == 0));
    }
    out
}
