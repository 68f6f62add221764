//! The servers under test: launching `calseta` processes with the benchmark configuration on a
//! fresh database, creating the admin key, and sampling the processes' RSS and CPU from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::client::Target;
use crate::stats::round;

/// Starts `calseta` processes with the benchmark configuration.
pub(crate) struct Launcher {
    exe: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Launcher {
    /// Launches the running executable (the `calseta` binary) on `database_url`, listening on
    /// `port`, logging to `server.log` in `workdir`.
    pub(crate) fn new(database_url: &str, postgres: bool, port: u16, workdir: &Path) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find the calseta binary: {e}"))?;
        let base = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url),
            ("CALSETA_BIND", &format!("127.0.0.1:{port}")),
            ("CALSETA_API_BASE_URL", &base),
            ("ENRICHMENT_MOCK_MODE", "true"),
            ("RATE_LIMIT_AUTHED_PER_MINUTE", "100000000"),
            ("RATE_LIMIT_INGEST_PER_MINUTE", "100000000"),
            ("RATE_LIMIT_ENRICHMENT_PER_MINUTE", "100000000"),
            ("RATE_LIMIT_UNAUTHED_PER_MINUTE", "100000000"),
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1"),
            ("LOG_LEVEL", "WARNING"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if postgres && std::env::var("ENCRYPTION_KEY").is_err() {
            env.push(("ENCRYPTION_KEY".into(), fernet_key()));
        }
        Ok(Launcher { exe, env, log: workdir.join("server.log") })
    }

    /// The settings the servers get (over the bench's own environment).
    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The same launcher with one more setting.
    pub(crate) fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    fn command(&self, args: &[&str]) -> Result<Command, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true);
        Ok(command)
    }

    /// Migrates the database and creates the admin key the benchmark uses.
    pub(crate) async fn create_admin_key(&self) -> Result<String, String> {
        let output = self
            .command(&["api-key", "create", "--name", "bench", "--scopes", "admin"])?
            .stdout(Stdio::piped())
            .output()
            .await
            .map_err(|e| format!("cannot run calseta api-key create: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("key (shown once): "))
            .map(|k| k.trim().to_string())
            .ok_or_else(|| format!("calseta api-key create failed (see {}): {text}", self.log.display()))
    }

    /// Starts the server (and `workers` worker processes) and waits until it is healthy; the
    /// fleet and the time to healthy.
    pub(crate) async fn start(&self, target: &Target, workers: usize) -> Result<(Fleet, Duration), String> {
        self.start_with(target, workers, workers > 0).await
    }

    /// Starts the server alone, without its in-process worker (jobs wait in the queue): for
    /// measuring reads while nothing else runs.
    pub(crate) async fn start_without_worker(&self, target: &Target) -> Result<(Fleet, Duration), String> {
        self.start_with(target, 0, true).await
    }

    async fn start_with(
        &self,
        target: &Target,
        workers: usize,
        no_worker: bool,
    ) -> Result<(Fleet, Duration), String> {
        let started = Instant::now();
        let args: &[&str] = if no_worker { &["serve", "--no-worker"] } else { &["serve"] };
        let mut children =
            vec![self.command(args)?.spawn().map_err(|e| format!("cannot start calseta serve: {e}"))?];
        let healthy = loop {
            if let Ok(r) = target.client.get(format!("{}/health", target.base)).send().await
                && r.status().is_success()
            {
                break started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("the server did not become healthy (see {})", self.log.display()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        for _ in 0..workers {
            children.push(
                self.command(&["worker"])?
                    .spawn()
                    .map_err(|e| format!("cannot start calseta worker: {e}"))?,
            );
        }
        Ok((Fleet { children, workers }, healthy))
    }
}

/// A fresh random key in calseta's `ENCRYPTION_KEY` format (a Fernet key: 32 random bytes,
/// url-safe base64 with padding), for servers on PostgreSQL.
fn fernet_key() -> String {
    URL_SAFE.encode(rand::random::<[u8; 32]>())
}

/// The running server processes.
pub(crate) struct Fleet {
    children: Vec<Child>,
    workers: usize,
}

impl Fleet {
    /// The processes, e.g. `1 × serve`.
    pub(crate) fn describe(&self) -> String {
        if self.workers == 0 {
            "1 × serve".into()
        } else {
            format!("1 × serve --no-worker + {} × worker", self.workers)
        }
    }

    /// Kills every process.
    pub(crate) async fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
    }

    fn sample(&self) -> (u64, u64) {
        self.children
            .iter()
            .filter_map(Child::id)
            .filter_map(proc_stats)
            .fold((0, 0), |(r, c), (rss, cpu)| (r + rss, c + cpu))
    }

    /// Runs `work` while sampling the processes' RSS every 50 ms and their CPU time.
    pub(crate) async fn sample_during<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> (T, Resources) {
        let (_, cpu_before) = self.sample();
        let started = Instant::now();
        let stop = AtomicBool::new(false);
        let peak = AtomicU64::new(0);
        let sampler = async {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(self.sample().0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let work = async {
            let out = work.await;
            stop.store(true, Ordering::Relaxed);
            out
        };
        let (out, ()) = tokio::join!(work, sampler);
        let (rss_end, cpu_after) = self.sample();
        let wall = started.elapsed().as_secs_f64().max(1e-9);
        // /proc reports CPU time in clock ticks, 100 per second on Linux.
        let cpu_percent = (cpu_after.saturating_sub(cpu_before)) as f64 / 100.0 / wall * 100.0;
        (out, Resources { rss_peak_kib: peak.load(Ordering::Relaxed).max(rss_end), cpu_percent })
    }
}

/// Server resource use during a phase.
pub(crate) struct Resources {
    rss_peak_kib: u64,
    cpu_percent: f64,
}

impl Resources {
    /// Peak RSS in MiB and CPU in percent of one core.
    pub(crate) fn to_json(&self) -> Value {
        json!({"rss_peak_mib": round(self.rss_peak_kib as f64 / 1024.0), "cpu_percent": round(self.cpu_percent)})
    }
}

/// RSS in KiB and user + system CPU ticks of a process.
fn proc_stats(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((rss, utime + stime))
}

/// The machine the benchmark runs on: CPU count and model, total memory.
pub(crate) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
    });
    let memory =
        std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| t.lines().next().map(str::to_string));
    json!({"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "cpu": cpu, "memory": memory})
}

/// A loopback port free at the time of asking.
pub(crate) fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fernet_keys_are_32_bytes_of_padded_url_safe_base64() {
        let key = fernet_key();
        assert_eq!(key.len(), 44);
        assert!(key.ends_with('='));
        assert_eq!(URL_SAFE.decode(&key).unwrap().len(), 32);
        assert_ne!(key, fernet_key());
    }

    #[test]
    fn own_process_stats_are_read() {
        let (rss, _) = proc_stats(std::process::id()).unwrap();
        assert!(rss > 0);
    }
}
