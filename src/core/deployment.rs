//! What a Coder Deployment looks like to an upgrade, and the traps of Coder's
//! upgrade-troubleshooting guide it falls into.
//!
//! [`DeploymentFacts::from_deployment`] reads the typed Kubernetes model (the adapter parsed
//! the manifest); [`check_deployment`] turns the facts into [`Finding`]s, each with the
//! command or patch that fixes it. Both are pure, so `patch`, `gate --manifest` and `runbook`
//! can share them. Kubernetes defaults are applied where a field is left out: 1 replica,
//! RollingUpdate with 25% maxSurge and maxUnavailable, probe period 10 s and failure
//! threshold 3, pull policy `Always` for floating tags and `IfNotPresent` otherwise.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::json;

use super::duration;
use super::image_ref::ImageRef;
use super::shell::{kubectl, ShellCommand};
use crate::error::{Error, Result};

/// The annotation Helm writes on what it installs: the release name.
pub const HELM_RELEASE_ANNOTATION: &str = "meta.helm.sh/release-name";
/// The label Helm charts (Coder's among them) set to the release name; `helm template`
/// output has it, but not the annotation.
pub const HELM_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

const DEFAULT_PROBE_PERIOD: i32 = 10;
const DEFAULT_PROBE_FAILURE_THRESHOLD: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentFacts {
    pub name: String,
    pub namespace: Option<String>,
    /// The Helm release that manages it, from the `app.kubernetes.io/instance` label.
    pub helm_release: Option<String>,
    /// The installed chart `(name, version)`, from the `helm.sh/chart` label
    /// (`coder-2.22.1`): `helm upgrade` pins `--version` to it.
    #[serde(skip)]
    pub helm_chart: Option<(String, String)>,
    /// `spec.replicas`, 1 when left out.
    pub replicas: i32,
    pub strategy: StrategyFacts,
    /// Every container's name, in order.
    pub containers: Vec<String>,
    pub container: ContainerFacts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrategyFacts {
    /// `RollingUpdate` or `Recreate`.
    #[serde(rename = "type")]
    pub kind: String,
    pub max_unavailable: Option<String>,
    pub max_surge: Option<String>,
    /// How many old pods a rollout keeps running while the first new pod starts.
    pub old_pods_kept: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerFacts {
    pub name: String,
    /// Its position in `spec.template.spec.containers` (what a JSON patch addresses).
    pub index: usize,
    pub image: ImageRef,
    /// The pull policy in effect (set, or the Kubernetes default for this image).
    pub image_pull_policy: String,
    pub image_pull_policy_set: bool,
    pub liveness_probe: Option<ProbeFacts>,
    pub startup_probe: Option<ProbeFacts>,
    pub readiness_probe: Option<ProbeFacts>,
}

/// The probe that restarts a pod still starting up (migrating): the startup probe when there
/// is one (the liveness probe only starts after it succeeds), else the liveness probe.
pub fn start_up_killer(c: &ContainerFacts) -> Option<(&'static str, &ProbeFacts)> {
    match (&c.startup_probe, &c.liveness_probe) {
        (Some(p), _) => Some(("startupProbe", p)),
        (None, Some(p)) => Some(("livenessProbe", p)),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeFacts {
    /// `httpGet /healthz port http`, `tcpSocket port 8080`, `exec`, `grpc`.
    pub handler: String,
    pub period_seconds: i32,
    pub failure_threshold: i32,
    pub initial_delay_seconds: i32,
    pub timeout_seconds: Option<i32>,
    /// Roughly how long a pod that never answers survives this probe:
    /// initialDelaySeconds + failureThreshold x periodSeconds.
    pub budget_seconds: u64,
}

impl DeploymentFacts {
    /// Reads the facts of `deployment` for its container `container`.
    pub fn from_deployment(deployment: &Deployment, container: &str) -> Result<Self> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let spec = deployment
            .spec
            .as_ref()
            .ok_or_else(|| Error::invalid_input(format!("Deployment `{name}` has no spec")))?;
        let pod = spec.template.spec.as_ref().ok_or_else(|| {
            Error::invalid_input(format!("Deployment `{name}` has no pod template spec"))
        })?;
        if let Some(i) = pod.containers.iter().position(|c| c.name.trim().is_empty()) {
            return Err(Error::invalid_input(format!(
                "Deployment `{name}`: container {} has no name (Kubernetes requires one)",
                i + 1
            ))
            .with_hint("give each container its `name:`; migtag addresses the container by name (--container)"));
        }
        let containers: Vec<String> = pod.containers.iter().map(|c| c.name.clone()).collect();
        let (index, c) =
            pod.containers
                .iter()
                .enumerate()
                .find(|(_, c)| c.name == container)
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                "Deployment `{name}` has no container `{container}`; its containers are: {}",
                if containers.is_empty() { "none".to_string() } else { containers.join(", ") }
            ))
                    .with_hint("pass --container NAME")
                })?;
        let replicas = spec.replicas.unwrap_or(1);
        if replicas < 0 {
            return Err(Error::invalid_input(format!(
                "Deployment `{name}`: replicas is {replicas}; Kubernetes accepts only zero or more"
            )));
        }
        let strategy = strategy_facts(spec.strategy.as_ref(), replicas);
        Ok(DeploymentFacts {
            helm_release: helm_release(&deployment.metadata),
            helm_chart: helm_chart(&deployment.metadata),
            namespace: deployment.metadata.namespace.clone(),
            name,
            replicas,
            strategy,
            containers,
            container: container_facts(c, index)?,
        })
    }
}

/// The label Helm charts set to `<chart name>-<chart version>`.
pub const HELM_CHART_LABEL: &str = "helm.sh/chart";

/// The chart name and version of the `helm.sh/chart` label: the version starts at the first
/// `-` followed by a digit (`coder-2.22.0-rc.1` -> `coder`, `2.22.0-rc.1`). Only a version of
/// plain characters (letters, digits, `.`, `+`, `-`) is taken: it goes into a command line.
fn helm_chart(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(String, String)> {
    let label = meta.labels.as_ref()?.get(HELM_CHART_LABEL)?;
    let at = label
        .as_bytes()
        .windows(2)
        .position(|w| w[0] == b'-' && w[1].is_ascii_digit())?;
    let (name, version) = (&label[..at], &label[at + 1..]);
    let plain = version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    (!name.is_empty() && plain).then(|| (name.to_string(), version.to_string()))
}

/// The Helm release that manages the object: its annotation, else the instance label when
/// the object says Helm manages it.
fn helm_release(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<String> {
    if let Some(name) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(HELM_RELEASE_ANNOTATION))
    {
        return Some(name.clone());
    }
    let labels = meta.labels.as_ref()?;
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some("Helm") {
        return labels.get(HELM_INSTANCE_LABEL).cloned();
    }
    None
}

fn container_facts(c: &Container, index: usize) -> Result<ContainerFacts> {
    let raw = c
        .image
        .as_deref()
        .ok_or_else(|| Error::invalid_input(format!("container `{}` has no image", c.name)))?;
    let image = ImageRef::parse(raw).map_err(|e| e.context(format!("container `{}`", c.name)))?;
    let default_policy = if image.is_floating() {
        "Always"
    } else {
        "IfNotPresent"
    };
    Ok(ContainerFacts {
        name: c.name.clone(),
        index,
        image_pull_policy: c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_policy.to_string()),
        image_pull_policy_set: c.image_pull_policy.is_some(),
        image,
        liveness_probe: c.liveness_probe.as_ref().map(probe_facts),
        startup_probe: c.startup_probe.as_ref().map(probe_facts),
        readiness_probe: c.readiness_probe.as_ref().map(probe_facts),
    })
}

fn probe_facts(p: &Probe) -> ProbeFacts {
    let port = |p: &IntOrString| match p {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    let handler = if let Some(h) = &p.http_get {
        format!(
            "httpGet {} port {}",
            h.path.as_deref().unwrap_or("/"),
            port(&h.port)
        )
    } else if let Some(t) = &p.tcp_socket {
        format!("tcpSocket port {}", port(&t.port))
    } else if p.grpc.is_some() {
        "grpc".to_string()
    } else if p.exec.is_some() {
        "exec".to_string()
    } else {
        "none".to_string()
    };
    let period = p.period_seconds.unwrap_or(DEFAULT_PROBE_PERIOD).max(1);
    let threshold = p
        .failure_threshold
        .unwrap_or(DEFAULT_PROBE_FAILURE_THRESHOLD)
        .max(1);
    let delay = p.initial_delay_seconds.unwrap_or(0).max(0);
    ProbeFacts {
        handler,
        period_seconds: period,
        failure_threshold: threshold,
        initial_delay_seconds: delay,
        timeout_seconds: p.timeout_seconds,
        budget_seconds: delay as u64 + threshold as u64 * period as u64,
    }
}

fn strategy_facts(
    s: Option<&k8s_openapi::api::apps::v1::DeploymentStrategy>,
    replicas: i32,
) -> StrategyFacts {
    let kind = s
        .and_then(|s| s.type_.clone())
        .unwrap_or_else(|| "RollingUpdate".to_string());
    let ru = s.and_then(|s| s.rolling_update.as_ref());
    let show = |v: Option<&IntOrString>| {
        v.map(|v| match v {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s.clone(),
        })
    };
    let max_unavailable = show(ru.and_then(|r| r.max_unavailable.as_ref()));
    let max_surge = show(ru.and_then(|r| r.max_surge.as_ref()));
    let old_pods_kept = if kind == "Recreate" {
        0
    } else {
        // Kubernetes rounds a percentage of maxUnavailable down; the default is 25%.
        let unavailable = match ru.and_then(|r| r.max_unavailable.as_ref()) {
            Some(IntOrString::Int(i)) => *i,
            Some(IntOrString::String(s)) => percent_of(s, replicas).unwrap_or(0),
            None => replicas * 25 / 100,
        };
        (replicas - unavailable.clamp(0, replicas.max(0))).max(0)
    };
    StrategyFacts {
        kind,
        max_unavailable,
        max_surge,
        old_pods_kept,
    }
}

fn percent_of(text: &str, replicas: i32) -> Option<i32> {
    let p: i64 = text.strip_suffix('%')?.parse().ok()?;
    // Saturating: a percentage is user text, and may be huge.
    i32::try_from((replicas as i64).saturating_mul(p) / 100).ok()
}

/// What the checks need besides the Deployment.
#[derive(Debug, Clone)]
pub struct DeploymentCheckOptions<'a> {
    /// The namespace the printed commands use (`-n`), if any.
    pub namespace: Option<&'a str>,
    /// How long the migration may take; probes must let the pod live at least this long.
    pub migration_window_seconds: u64,
    /// How many migrations the change applies, when known. `Some(0)` turns the migration
    /// findings into notes: nothing migrates.
    pub pending_migrations: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Likely to break the upgrade: act before applying the patch.
    Warning,
    /// Worth knowing; does not block this change.
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    MultipleReplicas,
    RollingUpdateKeepsOldPods,
    ProbeShorterThanMigration,
    FloatingImage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub message: String,
    /// What to do, in order.
    pub fix: Vec<FixStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixStep {
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<ShellCommand>,
    /// A strategic-merge patch, when the fix is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<serde_json::Value>,
}

impl FixStep {
    fn command(description: impl Into<String>, command: ShellCommand) -> Self {
        FixStep {
            description: description.into(),
            command: Some(command),
            patch: None,
        }
    }
}

/// The traps of Coder's upgrade-troubleshooting guide that this Deployment falls into.
pub fn check_deployment(d: &DeploymentFacts, ctx: &DeploymentCheckOptions) -> Vec<Finding> {
    let migrates = ctx.pending_migrations != Some(0);
    let severity = if migrates {
        Severity::Warning
    } else {
        Severity::Info
    };
    let nothing_migrates = if migrates {
        ""
    } else {
        " (nothing migrates in this change, so it matters only for later upgrades)"
    };
    let target = format!("deployment/{}", d.name);
    let scale = |n: i32| {
        kubectl(
            ctx.namespace,
            &["scale", &target, &format!("--replicas={n}")],
        )
    };
    let mut out = Vec::new();

    if d.replicas > 1 {
        out.push(Finding {
            kind: FindingKind::MultipleReplicas,
            severity,
            message: format!(
                "{} replicas: during a migration every new replica tries to migrate and old ones keep connections and locks \
                 (Coder issues #5933, #8210); run one replica while the migration runs{nothing_migrates}",
                d.replicas
            ),
            fix: vec![
                FixStep::command("before the change: scale to one replica", scale(1)),
                FixStep::command(
                    format!("once the new pod is healthy: scale back to {} replicas", d.replicas),
                    scale(d.replicas),
                ),
            ],
        });
    }

    if d.strategy.kind != "Recreate" && d.strategy.old_pods_kept > 0 {
        let recreate = json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}});
        out.push(Finding {
            kind: FindingKind::RollingUpdateKeepsOldPods,
            severity,
            message: format!(
                "strategy {} (maxUnavailable {}) keeps {} old pod{} running while the new pod migrates; old pods hold database \
                 connections and locks that can stall the migration until probes kill it (Coder issues #20763, #21309){nothing_migrates}",
                d.strategy.kind,
                d.strategy.max_unavailable.as_deref().unwrap_or("25% by default"),
                d.strategy.old_pods_kept,
                if d.strategy.old_pods_kept == 1 { "" } else { "s" },
            ),
            fix: vec![
                FixStep::command("either: scale to 0 before the change", scale(0)),
                FixStep::command("then, after the change: start one pod so the migration runs alone", scale(1)),
                FixStep {
                    description: "or: switch the Deployment to Recreate, so old pods stop before the new one starts".into(),
                    command: Some(kubectl(
                        ctx.namespace,
                        &["patch", &target, "--type", "strategic", "-p", &recreate.to_string()],
                    )),
                    patch: Some(recreate),
                },
            ],
        });
    }

    // During start-up a startup probe, when present, is the one that kills; the liveness probe
    // only starts after it succeeds.
    let c = &d.container;
    if let Some((field, p)) = start_up_killer(c) {
        if p.budget_seconds < ctx.migration_window_seconds {
            let threshold = ctx
                .migration_window_seconds
                .div_ceil(p.period_seconds as u64)
                .max(p.failure_threshold as u64);
            let mut probe = serde_json::Map::new();
            probe.insert("periodSeconds".into(), json!(p.period_seconds));
            probe.insert("failureThreshold".into(), json!(threshold));
            if p.timeout_seconds.is_none() {
                probe.insert("timeoutSeconds".into(), json!(1));
            }
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": c.name, field: probe}]}}}});
            out.push(Finding {
                kind: FindingKind::ProbeShorterThanMigration,
                severity,
                message: format!(
                    "the {field} ({}) restarts a pod that does not answer within about {} (initialDelaySeconds {} + failureThreshold {} x \
                     periodSeconds {}), shorter than the migration window {}: Kubernetes would kill the pod mid-migration \
                     (Coder issues #20899, #21309){nothing_migrates}",
                    p.handler,
                    duration::exact(p.budget_seconds),
                    p.initial_delay_seconds,
                    p.failure_threshold,
                    p.period_seconds,
                    duration::exact(ctx.migration_window_seconds),
                ),
                fix: vec![FixStep {
                    description: format!(
                        "raise failureThreshold to {threshold} (x {} s = {}) before the change; the handler stays as it is",
                        p.period_seconds,
                        duration::exact(threshold * p.period_seconds as u64)
                    ),
                    command: Some(kubectl(
                        ctx.namespace,
                        &["patch", &target, "--type", "strategic", "-p", &patch.to_string()],
                    )),
                    patch: Some(patch),
                }],
            });
        }
    }

    if c.image.is_floating() {
        let pulls_once = c.image_pull_policy != "Always";
        out.push(Finding {
            kind: FindingKind::FloatingImage,
            severity: if pulls_once { Severity::Warning } else { Severity::Info },
            message: if pulls_once {
                format!(
                    "image {} floats (`latest` or no tag) with imagePullPolicy {}: each node keeps whichever `latest` it pulled \
                     first, so replicas can run different Coder versions and one crash-loops on the newer schema (Coder issue #4606); \
                     pin a release tag",
                    c.image, c.image_pull_policy
                )
            } else {
                format!(
                    "image {} floats (`latest` or no tag): pods started at different times can run different Coder versions; pin a release tag",
                    c.image
                )
            },
            fix: vec![FixStep {
                description: "pin the image to a release tag: the patch migtag prints does".into(),
                command: None,
                patch: None,
            }],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the manifest fuzz target: `replicas: -3` reached `clamp(0, -3)`, which
    /// panics. Negative replicas are refused; huge percentages saturate.
    #[test]
    fn negative_replicas_are_refused_and_percentages_saturate() {
        let mut d: Deployment = serde_yaml_ng::from_str(
            "metadata: {name: coder}\nspec:\n  replicas: -3\n  selector: {}\n  template:\n    spec:\n      containers: [{name: coder, image: ghcr.io/coder/coder:v2.21.0}]\n",
        )
        .unwrap();
        let e = DeploymentFacts::from_deployment(&d, "coder").unwrap_err();
        assert!(e.message().contains("replicas is -3"), "{e}");
        d.spec.as_mut().unwrap().replicas = Some(3);
        assert!(DeploymentFacts::from_deployment(&d, "coder").is_ok());
        assert_eq!(percent_of("9223372036854775807%", 3), None);
        assert_eq!(percent_of("50%", 3), Some(1));
    }

    fn deployment(yaml: &str) -> Deployment {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    const BASE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: coder, namespace: coder, labels: {app.kubernetes.io/instance: coder-prod, app.kubernetes.io/managed-by: Helm}}
spec:
  selector: {matchLabels: {app: coder}}
  template:
    metadata: {labels: {app: coder}}
    spec:
      containers:
        - name: proxy
          image: nginx:1.27
        - name: coder
          image: ghcr.io/coder/coder:v2.3.0
"#;

    fn ctx(pending: Option<usize>) -> DeploymentCheckOptions<'static> {
        DeploymentCheckOptions {
            namespace: Some("coder"),
            migration_window_seconds: 900,
            pending_migrations: pending,
        }
    }

    #[test]
    fn defaults_apply_when_fields_are_missing() {
        let f = DeploymentFacts::from_deployment(&deployment(BASE), "coder").unwrap();
        assert_eq!(f.replicas, 1);
        assert_eq!(f.container.index, 1);
        assert_eq!(f.helm_release.as_deref(), Some("coder-prod"));
        assert_eq!(f.strategy.kind, "RollingUpdate");
        // 25% of 1 rounds down to 0 unavailable: the old pod stays up.
        assert_eq!(f.strategy.old_pods_kept, 1);
        assert_eq!(f.container.image_pull_policy, "IfNotPresent");
        let kinds: Vec<FindingKind> = check_deployment(&f, &ctx(Some(3)))
            .iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, vec![FindingKind::RollingUpdateKeepsOldPods]);
    }

    #[test]
    fn helm_release_needs_helm_to_manage_it() {
        let unmanaged = BASE.replace(", app.kubernetes.io/managed-by: Helm", "");
        let f = DeploymentFacts::from_deployment(&deployment(&unmanaged), "coder").unwrap();
        assert_eq!(f.helm_release, None);
        let annotated = unmanaged.replace(
            "metadata: {name: coder,",
            "metadata: {annotations: {meta.helm.sh/release-name: prod}, name: coder,",
        );
        let f = DeploymentFacts::from_deployment(&deployment(&annotated), "coder").unwrap();
        assert_eq!(f.helm_release.as_deref(), Some("prod"));
    }

    #[test]
    fn missing_container_lists_the_ones_there() {
        let e = DeploymentFacts::from_deployment(&deployment(BASE), "web").unwrap_err();
        assert!(
            e.message()
                .contains("no container `web`; its containers are: proxy, coder"),
            "{e}"
        );
    }

    #[test]
    fn every_trap_is_found_with_its_fix() {
        let yaml = BASE.replace(
            "spec:\n  selector",
            "spec:\n  replicas: 3\n  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 0}}\n  selector",
        )
        .replace(
            "image: ghcr.io/coder/coder:v2.3.0",
            "image: ghcr.io/coder/coder:latest\n          imagePullPolicy: IfNotPresent\n          livenessProbe: {httpGet: {path: /healthz, port: http}}",
        );
        let f = DeploymentFacts::from_deployment(&deployment(&yaml), "coder").unwrap();
        assert_eq!(f.strategy.old_pods_kept, 2);
        let findings = check_deployment(&f, &ctx(Some(10)));
        let kinds: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                FindingKind::MultipleReplicas,
                FindingKind::RollingUpdateKeepsOldPods,
                FindingKind::ProbeShorterThanMigration,
                FindingKind::FloatingImage
            ]
        );
        assert!(findings.iter().all(|f| f.severity == Severity::Warning));
        assert_eq!(
            findings[0].fix[0].command.as_ref().unwrap().text,
            "kubectl -n coder scale deployment/coder --replicas=1"
        );
        assert_eq!(
            findings[0].fix[1].command.as_ref().unwrap().text,
            "kubectl -n coder scale deployment/coder --replicas=3"
        );
        // 15 minutes at the default 10 s period: the guide's failureThreshold 90.
        assert_eq!(
            findings[2].fix[0].patch.as_ref().unwrap(),
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "coder", "livenessProbe": {
                "periodSeconds": 10, "failureThreshold": 90, "timeoutSeconds": 1}}]}}}})
        );
        assert!(
            findings[2].message.contains("about 30s"),
            "{}",
            findings[2].message
        );
    }

    #[test]
    fn long_enough_probes_and_recreate_pass() {
        let yaml = BASE.replace("spec:\n  selector", "spec:\n  strategy: {type: Recreate}\n  selector").replace(
            "image: ghcr.io/coder/coder:v2.3.0",
            "image: ghcr.io/coder/coder:v2.3.0\n          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 90}",
        );
        let f = DeploymentFacts::from_deployment(&deployment(&yaml), "coder").unwrap();
        assert!(check_deployment(&f, &ctx(Some(5))).is_empty());
        // A one-hour window needs 360 failures at 10 s.
        let long = DeploymentCheckOptions {
            migration_window_seconds: 3600,
            ..ctx(Some(5))
        };
        let findings = check_deployment(&f, &long);
        assert_eq!(findings.len(), 1);
        let patch = findings[0].fix[0].patch.as_ref().unwrap();
        assert_eq!(
            patch["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["failureThreshold"],
            360
        );
    }

    #[test]
    fn startup_probe_is_the_one_that_counts() {
        let yaml = BASE.replace("spec:\n  selector", "spec:\n  strategy: {type: Recreate}\n  selector").replace(
            "image: ghcr.io/coder/coder:v2.3.0",
            "image: ghcr.io/coder/coder:v2.3.0\n          livenessProbe: {tcpSocket: {port: 8080}}\n          startupProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5, failureThreshold: 12}",
        );
        let f = DeploymentFacts::from_deployment(&deployment(&yaml), "coder").unwrap();
        let findings = check_deployment(&f, &ctx(None));
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0]
                .message
                .starts_with("the startupProbe (httpGet /healthz port 8080)"),
            "{}",
            findings[0].message
        );
        let probe = &findings[0].fix[0].patch.as_ref().unwrap()["spec"]["template"]["spec"]
            ["containers"][0]["startupProbe"];
        assert_eq!(probe["failureThreshold"], 180);
        assert_eq!(probe["periodSeconds"], 5);
    }

    #[test]
    fn nothing_migrating_turns_warnings_into_notes() {
        let yaml = BASE.replace("spec:\n  selector", "spec:\n  replicas: 2\n  selector");
        let f = DeploymentFacts::from_deployment(&deployment(&yaml), "coder").unwrap();
        let findings = check_deployment(&f, &ctx(Some(0)));
        assert!(!findings.is_empty());
        assert!(findings.iter().all(|f| f.severity == Severity::Info));
    }

    #[test]
    fn floating_image_with_always_is_only_a_note() {
        let yaml = BASE.replace(
            "image: ghcr.io/coder/coder:v2.3.0",
            "image: ghcr.io/coder/coder",
        );
        let f = DeploymentFacts::from_deployment(&deployment(&yaml), "coder").unwrap();
        assert_eq!(f.container.image_pull_policy, "Always");
        let floating: Vec<Finding> = check_deployment(&f, &ctx(None))
            .into_iter()
            .filter(|f| f.kind == FindingKind::FloatingImage)
            .collect();
        assert_eq!(floating.len(), 1);
        assert_eq!(floating[0].severity, Severity::Info);
    }
}
