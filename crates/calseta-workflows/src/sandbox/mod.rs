//! The sandbox around one interpreter child: which `python3` runs (and the files it needs), which
//! isolation layers this kernel offers, and the plan each child applies to itself before exec.
//! The layers are independent: where one is missing the others still apply, and the level says so.

mod os;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use serde::Deserialize;

pub use os::kill_group;
use os::{ChildLimits, ChildPlan};

/// Imports every allowed module, so that the files their native parts need are mapped, and
/// reports the interpreter, its standard library and every mapped file.
const PROBE: &str = r#"
import json, sys, sysconfig
for name in ["asyncio", "base64", "collections", "copy", "datetime", "enum", "functools", "hashlib",
             "hmac", "html", "http", "http.client", "inspect", "ipaddress", "itertools", "json", "logging",
             "math", "operator", "re", "statistics", "string", "textwrap", "time", "typing",
             "unicodedata", "urllib", "urllib.parse", "uuid", "traceback", "types", "ast", "ssl"]:
    try:
        __import__(name)
    except Exception:
        pass
files = set()
with open("/proc/self/maps") as maps:
    for line in maps:
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/"):
            files.add(parts[5].strip())
paths = sysconfig.get_paths()
print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0],
                  "stdlib": [paths["stdlib"], paths["platstdlib"]], "files": sorted(files)}))
"#;

#[derive(Debug, Clone, Deserialize)]
struct ProbeReport {
    executable: PathBuf,
    version: String,
    stdlib: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

/// A CPython interpreter and the files it reads.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// The real executable (not a shim).
    pub executable: PathBuf,
    /// `3.11.2`.
    pub version: String,
    /// Its standard library directories (read-only inside the sandbox).
    readable_dirs: Vec<PathBuf>,
    /// Shared libraries and other mapped files (read-only).
    readable_files: Vec<PathBuf>,
    /// The executable and its ELF loader (read and execute).
    executables: Vec<PathBuf>,
}

impl Interpreter {
    /// Finds `python3`: `configured` when given, else `/usr/bin/python3`, else the first on `PATH`;
    /// asks it where it lives (a pyenv shim is a script; its `sys.executable` is not).
    pub async fn discover(configured: Option<&Path>) -> Result<Interpreter, String> {
        let candidate = match configured {
            Some(path) => path.to_path_buf(),
            None if Path::new("/usr/bin/python3").exists() => PathBuf::from("/usr/bin/python3"),
            None => find_on_path("python3").ok_or("no python3 on PATH")?,
        };
        let output = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::process::Command::new(&candidate)
                .args(["-I", "-S", "-c", PROBE])
                .env_clear()
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| format!("{} did not answer", candidate.display()))?
        .map_err(|e| format!("cannot run {}: {e}", candidate.display()))?;
        if !output.status.success() {
            return Err(format!("{} failed its probe", candidate.display()));
        }
        let report: ProbeReport =
            serde_json::from_slice(&output.stdout).map_err(|e| format!("unreadable probe answer: {e}"))?;
        let executable = std::fs::canonicalize(&report.executable).unwrap_or(report.executable);
        let loader = report
            .files
            .iter()
            .find(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ld-")));
        let mut executables = vec![executable.clone()];
        executables.extend(loader.cloned());
        Ok(Interpreter {
            executable,
            version: report.version,
            readable_dirs: report.stdlib,
            readable_files: report.files,
            executables,
        })
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()))
}

/// Which isolation layers this machine offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    /// User, network, PID, mount and IPC namespaces.
    pub namespaces: bool,
    /// The Landlock ABI (0 = none).
    pub landlock_abi: i32,
    /// Seccomp filters.
    pub seccomp: bool,
}

impl Layers {
    /// What is missing, in words (empty = the full sandbox).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.namespaces {
            missing.push("namespaces");
        }
        if self.landlock_abi < 1 {
            missing.push("landlock");
        }
        if !self.seccomp {
            missing.push("seccomp");
        }
        missing
    }
}

/// Per-run limits.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Address space, MiB.
    pub memory_mb: u64,
    /// Wall-clock limit (CPU seconds are capped at it too).
    pub timeout: Duration,
}

fn landlock_ruleset(interpreter: &Interpreter, abi: i32) -> Result<RulesetCreated, String> {
    let abi = ABI::from(abi);
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.scope(Scope::from_all(abi)))
        .and_then(|r| r.create())
        .map_err(|e| e.to_string())?;
    let rule = |path: &Path, access: BitFlags<AccessFs>| -> Option<PathBeneath<PathFd>> {
        let fd = PathFd::new(path).ok()?;
        // Files take only file rights; directories also ReadDir.
        let access = if path.is_dir() { access } else { access & !AccessFs::ReadDir };
        Some(PathBeneath::new(fd, access))
    };
    let rules = interpreter
        .readable_dirs
        .iter()
        .chain(interpreter.readable_files.iter())
        .filter_map(|p| rule(p, read))
        .chain(
            interpreter.executables.iter().filter_map(|p| rule(p, AccessFs::ReadFile | AccessFs::Execute)),
        );
    for r in rules {
        ruleset = ruleset.add_rule(r).map_err(|e| e.to_string())?;
    }
    Ok(ruleset)
}

/// `__X32_SYSCALL_BIT`: x32 system calls are the x86_64 numbers with this bit set.
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

fn arch() -> Result<seccompiler::TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|_| format!("seccomp: unsupported architecture {}", std::env::consts::ARCH))
}

/// Denied with EPERM: new sockets (a Unix socket pair, which asyncio needs for its own wake-ups,
/// is allowed), new processes, tracing and every way out of the namespaces or around seccomp.
/// The filters, compiled once per process: they are the same for every run.
fn compiled_seccomp_filters() -> Result<&'static Vec<BpfProgram>, String> {
    static FILTERS: std::sync::OnceLock<Result<Vec<BpfProgram>, String>> = std::sync::OnceLock::new();
    FILTERS.get_or_init(seccomp_filters).as_ref().map_err(Clone::clone)
}

fn seccomp_filters() -> Result<Vec<BpfProgram>, String> {
    let arch = arch()?;
    let always = |syscall: i64| (syscall, Vec::<SeccompRule>::new());
    let when =
        |syscall: i64, arg: u8, op: SeccompCmpOp, value: u64| -> Result<(i64, Vec<SeccompRule>), String> {
            let condition =
                SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())?;
            Ok((syscall, vec![SeccompRule::new(vec![condition]).map_err(|e| e.to_string())?]))
        };
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = [
        libc::SYS_socket,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_kexec_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        // Leaving the process group, and signalling anything (without the PID namespace the
        // host's processes would be in reach).
        libc::SYS_setsid,
        libc::SYS_setpgid,
        libc::SYS_kill,
        libc::SYS_tkill,
        libc::SYS_tgkill,
        libc::SYS_pidfd_send_signal,
        libc::SYS_rt_sigqueueinfo,
        libc::SYS_rt_tgsigqueueinfo,
        // The machine's state.
        libc::SYS_reboot,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
    ]
    .into_iter()
    .flat_map(|nr| {
        // On x86_64 the same calls are reachable with the x32 bit set; deny those numbers too.
        let x32 = if cfg!(target_arch = "x86_64") { Some(nr | X32_SYSCALL_BIT) } else { None };
        std::iter::once(nr).chain(x32)
    })
    .map(always)
    .collect();
    let [clone, socketpair] = [
        // clone without CLONE_THREAD makes a process; with it, a thread of this one.
        when(libc::SYS_clone, 0, SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64), 0)?,
        when(libc::SYS_socketpair, 0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?,
    ];
    denied.extend([clone, socketpair]);
    let deny =
        SeccompFilter::new(denied, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
            .map_err(|e| e.to_string())?;
    // clone3's flags are behind a pointer a filter cannot read: "not implemented" makes the C
    // library fall back to clone, which the filter above judges.
    let clone3 = SeccompFilter::new(
        [always(libc::SYS_clone3)].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    Ok(vec![
        deny.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?,
        clone3.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?,
    ])
}

/// A command for one sandboxed interpreter run: `python3 -I -S -B -c <program>`, with an empty
/// environment, its own process group, and the layers applied in the child before exec.
pub fn command(
    interpreter: &Interpreter,
    layers: Layers,
    limits: RunLimits,
    program: &str,
) -> Result<tokio::process::Command, String> {
    let landlock = if layers.landlock_abi >= 1 {
        Some(landlock_ruleset(interpreter, layers.landlock_abi)?)
    } else {
        None
    };
    let seccomp = if layers.seccomp { compiled_seccomp_filters()?.clone() } else { Vec::new() };
    let cpu_seconds = limits.timeout.as_secs().saturating_add(1);
    let mut plan = ChildPlan {
        namespaces: layers.namespaces,
        landlock,
        seccomp,
        limits: ChildLimits {
            address_space: limits.memory_mb.saturating_mul(1024 * 1024),
            cpu_seconds,
            open_files: 64,
            processes: 1,
            file_size: 0,
        },
    };
    let mut command = tokio::process::Command::new(&interpreter.executable);
    command
        .args(["-I", "-S", "-B", "-c", program])
        .env_clear()
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    os::set_pre_exec(&mut command, move || os::prepare_child(&mut plan));
    Ok(command)
}

/// Finds which layers work here, by starting the interpreter under each one alone.
pub async fn probe_layers(interpreter: &Interpreter) -> Layers {
    let none = Layers { namespaces: false, landlock_abi: 0, seccomp: false };
    let limits = RunLimits { memory_mb: 512, timeout: Duration::from_secs(10) };
    let works = |layers: Layers| async move {
        let Ok(mut command) = command(interpreter, layers, limits, "print('ok')") else { return false };
        let Ok(child) = command.stdin(Stdio::null()).stderr(Stdio::null()).spawn() else { return false };
        match tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await {
            Ok(Ok(out)) => out.status.success() && out.stdout == b"ok\n",
            _ => false,
        }
    };
    let abi = os::landlock_abi();
    Layers {
        namespaces: works(Layers { namespaces: true, ..none }).await,
        landlock_abi: if abi >= 1 && works(Layers { landlock_abi: abi, ..none }).await { abi } else { 0 },
        seccomp: works(Layers { seccomp: true, ..none }).await,
    }
}
