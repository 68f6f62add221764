//! What the console's system page shows beside `/health`: the isolation the workflow sandbox
//! achieved on this host and why (from the workflow runtime's probes), and the database engine.

use calseta_workflows::SandboxLevel;

/// One isolation layer of the workflow sandbox, as probed on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLayer {
    /// `namespaces`, `landlock` or `seccomp`.
    pub name: &'static str,
    /// What the layer contains, in words.
    pub purpose: &'static str,
    /// Whether a probe run under this layer alone worked.
    pub achieved: bool,
    /// What was found: the Landlock ABI in use, or why the layer is missing.
    pub detail: String,
}

/// The sandbox level and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    /// The level exactly as `/health`'s `workflow_sandbox` says it: `full`, `degraded: no …` or
    /// `unavailable: …`.
    pub level: String,
    /// `full`, `degraded` or `unavailable`.
    pub state: &'static str,
    /// Why the sandbox is at this level, in a sentence or two.
    pub reason: String,
    /// Each layer, achieved or not.
    pub layers: Vec<SandboxLayer>,
}

/// Why a layer is usually missing: the probe only says that a run under it failed.
fn missing_why(layer: &str) -> &'static str {
    match layer {
        "namespaces" => {
            "the kernel refused user namespaces to the interpreter (unprivileged user namespaces turned off by \
             sysctl or AppArmor, or a container that forbids them)"
        }
        "landlock" => {
            "the kernel offers no Landlock ABI (older than Linux 5.13, or Landlock not in the enabled LSMs), or a \
             probe run under it failed"
        }
        _ => {
            "a probe run under the seccomp filter failed (seccomp turned off in this kernel, or an unsupported architecture)"
        }
    }
}

impl SandboxReport {
    /// The report for a discovered runtime.
    pub fn of(runtime: &calseta_workflows::Runtime) -> Self {
        let level = runtime.level();
        let layers = runtime.layers();
        let missing = layers.missing();
        let layer = |name: &'static str, purpose: &'static str, achieved: bool, found: String| SandboxLayer {
            name,
            purpose,
            achieved,
            detail: if achieved { found } else { missing_why(name).to_string() },
        };
        let list = vec![
            layer(
                "namespaces",
                "user, network, PID, mount and IPC namespaces: no network, no other processes, no host user",
                layers.namespaces,
                "a probe run in fresh namespaces worked".into(),
            ),
            layer(
                "landlock",
                "file-system rules: only the interpreter's own files are readable",
                layers.landlock_abi >= 1,
                format!("Landlock ABI {} is enforced", layers.landlock_abi),
            ),
            layer(
                "seccomp",
                "a system-call filter: no new programs, sockets or tracing",
                layers.seccomp,
                "a probe run under the filter worked".into(),
            ),
        ];
        let (state, reason) = match &level {
            SandboxLevel::Full => (
                "full",
                "Every isolation layer worked in a probe run when the runtime started: workflows run with all of them."
                    .to_string(),
            ),
            SandboxLevel::Degraded(_) => (
                "degraded",
                format!(
                    "Workflows run, but without {}: {}.",
                    missing.join(" and "),
                    missing.iter().map(|m| format!("{m} — {}", missing_why(m))).collect::<Vec<_>>().join("; ")
                ),
            ),
            SandboxLevel::Unavailable(why) => ("unavailable", format!("Workflows do not run here: {why}.")),
        };
        SandboxReport { level: level.to_string(), state, reason, layers: list }
    }
}

impl crate::Services {
    /// The workflow sandbox's level and why, discovering the runtime first if no request has yet
    /// (a few interpreter starts, once per process).
    pub async fn workflow_sandbox_report(&self) -> SandboxReport {
        SandboxReport::of(self.workflow_runtime().await)
    }

    /// The database engine this process uses: `sqlite` or `postgresql`.
    pub fn database_engine(&self) -> &'static str {
        self.db.engine().as_str()
    }
}

#[cfg(test)]
mod tests {
    use calseta_workflows::{Layers, Runtime, SandboxOptions};

    use super::*;

    /// A runtime whose interpreter does not exist: nothing runs, and the report says why.
    async fn without_interpreter() -> Runtime {
        let options =
            SandboxOptions { python: Some("/nonexistent/python3".into()), ..SandboxOptions::default() };
        Runtime::discover(&options).await
    }

    #[tokio::test]
    async fn an_unavailable_sandbox_says_why_and_names_every_missing_layer() {
        let runtime = without_interpreter().await;
        let report = SandboxReport::of(&runtime);
        assert_eq!(report.state, "unavailable");
        assert_eq!(report.level, runtime.level().to_string(), "the level is /health's");
        let SandboxLevel::Unavailable(why) = runtime.level() else { panic!("{:?}", runtime.level()) };
        assert_eq!(report.reason, format!("Workflows do not run here: {why}."));
        let names: Vec<&str> = report.layers.iter().map(|l| l.name).collect();
        assert_eq!(names, ["namespaces", "landlock", "seccomp"]);
        assert!(report.layers.iter().all(|l| !l.achieved && l.detail == missing_why(l.name)));
    }

    #[tokio::test]
    async fn a_degraded_sandbox_names_what_it_lacks_and_why() {
        let runtime = Runtime::discover(&SandboxOptions::default()).await;
        if let SandboxLevel::Unavailable(why) = runtime.level() {
            eprintln!("skipped: no workflow runtime on this machine ({why})");
            return;
        }
        let degraded = runtime.with_layers(Layers { namespaces: true, landlock_abi: 0, seccomp: false });
        let report = SandboxReport::of(&degraded);
        assert_eq!((report.state, report.level.as_str()), ("degraded", "degraded: no landlock, no seccomp"));
        assert!(
            report.reason.starts_with("Workflows run, but without landlock and seccomp: "),
            "{}",
            report.reason
        );
        let shown: Vec<(&str, bool)> = report.layers.iter().map(|l| (l.name, l.achieved)).collect();
        assert_eq!(shown, [("namespaces", true), ("landlock", false), ("seccomp", false)]);
        assert_eq!(report.layers[1].detail, missing_why("landlock"));
        let full = SandboxReport::of(&runtime.with_layers(Layers {
            namespaces: true,
            landlock_abi: 3,
            seccomp: true,
        }));
        assert_eq!((full.state, full.level.as_str()), ("full", "full"));
        assert_eq!(full.layers[1].detail, "Landlock ABI 3 is enforced");
    }
}
