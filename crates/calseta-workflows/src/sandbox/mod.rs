//! The sandbox around one interpreter child: which `python3` runs (and the files it needs), which
//! isolation layers this kernel offers, and the plan each child applies to itself before exec.
//! The layers are independent: where one is missing the others still apply, and the level says so.

mod os;

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};
use serde::Deserialize;

pub use os::{ChildIdentity, is_root, kill_group};
use os::{ChildLimits, ChildPlan, ExecPlan};

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

/// The uid or gid of `spec` — a number, or a name looked up in `database` (`/etc/passwd`,
/// `/etc/group`: `name:x:id:…`).
fn resolve_id(spec: &str, database: &str) -> Option<u32> {
    if let Ok(id) = spec.parse() {
        return Some(id);
    }
    let entries = std::fs::read_to_string(database).ok()?;
    entries.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(spec)).then(|| fields.nth(1).and_then(|id| id.parse().ok())).flatten()
    })
}

/// The host user and group children become (`WORKFLOW_UID`, `WORKFLOW_GID`). Where the server is
/// root they default to `nobody` and `nogroup` (65534 when neither name exists) and may never be
/// root; where it is not, children keep its user (an unprivileged process cannot become another)
/// and setting either is an error.
pub fn child_identity(user: Option<&str>, group: Option<&str>) -> Result<Option<ChildIdentity>, String> {
    if !is_root() {
        return match user.or(group) {
            Some(_) => Err("WORKFLOW_UID and WORKFLOW_GID need the server to start as root".into()),
            None => Ok(None),
        };
    }
    const NOBODY: u32 = 65534;
    let uid = match user {
        Some(spec) => resolve_id(spec, "/etc/passwd").ok_or(format!("WORKFLOW_UID: no user '{spec}'"))?,
        None => resolve_id("nobody", "/etc/passwd").unwrap_or(NOBODY),
    };
    let gid = match group {
        Some(spec) => resolve_id(spec, "/etc/group").ok_or(format!("WORKFLOW_GID: no group '{spec}'"))?,
        None => ["nogroup", "nobody"].iter().find_map(|g| resolve_id(g, "/etc/group")).unwrap_or(NOBODY),
    };
    if uid == 0 || gid == 0 {
        return Err("WORKFLOW_UID and WORKFLOW_GID must not be root's".into());
    }
    Ok(Some(ChildIdentity { uid, gid }))
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

/// Tasks one run may have besides its interpreter's main thread and the middle process.
pub const THREADS_PER_RUN: u64 = 16;

/// Descriptors one child may hold: its three pipes, the event loop's, and what imports open
/// (one at a time). Each socket pair's buffers are kernel memory, so this bounds them too.
const OPEN_FILES: u64 = 32;

fn arch() -> Result<seccompiler::TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|_| format!("seccomp: unsupported architecture {}", std::env::consts::ARCH))
}

/// The interpreter's path as a C string with a fixed address for the life of the process: the
/// seccomp filter allows `execve` of exactly this address (below), so the filters compile once.
fn exec_path(path: &Path) -> Result<&'static CStr, String> {
    static INTERNED: Mutex<Vec<&'static CStr>> = Mutex::new(Vec::new());
    let wanted = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("the interpreter path {} holds a NUL byte", path.display()))?;
    let mut interned = INTERNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = interned.iter().find(|p| **p == wanted.as_c_str()) {
        return Ok(found);
    }
    let leaked: &'static CStr = Box::leak(wanted.into_boxed_c_str());
    interned.push(leaked);
    Ok(leaked)
}

/// The filters for an interpreter at `path`, compiled once per process (they are the same for
/// every run of it).
fn compiled_seccomp_filters(path: &'static CStr) -> Result<Vec<BpfProgram>, String> {
    static FILTERS: Mutex<Vec<(usize, Vec<BpfProgram>)>> = Mutex::new(Vec::new());
    let address = path.as_ptr() as usize;
    let mut filters = FILTERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, compiled)) = filters.iter().find(|(a, _)| *a == address) {
        return Ok(compiled.clone());
    }
    let compiled = seccomp_filters(address as u64)?;
    filters.push((address, compiled.clone()));
    Ok(compiled)
}

/// The system calls a run may make: what CPython, asyncio and the harness use, found by tracing
/// them (`strace -f` of the harness running workflows that use every part of `ctx`, every
/// allowed module, threads and the event loop's executor). Each group says why it is there.
/// Everything else fails with `EPERM` — among them every change of file metadata (`chmod`,
/// `chown`, `utime*`, `*xattr`), new sockets, `fork`, mounts, `unshare`/`setns`, signals,
/// `io_uring`, `bpf`, keyrings, `sync`, inotify/fanotify, AIO, the new mount API, `pidfd_*`,
/// `name_to_handle_at` and `pipe`. The x32 ABI's numbers are not on the list, so every x32 call
/// is refused; the filter kills a process of another architecture outright.
fn allowed_syscalls() -> Vec<i64> {
    let mut allowed = vec![
        // Reading and writing what is open (the protocol pipes, files the interpreter imports).
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_lseek,
        libc::SYS_close,
        libc::SYS_close_range,
        libc::SYS_dup,
        libc::SYS_dup3,
        // Finding and opening the standard library's files (Landlock decides which).
        libc::SYS_openat,
        libc::SYS_newfstatat,
        libc::SYS_fstat,
        libc::SYS_statx,
        libc::SYS_getdents64,
        libc::SYS_readlinkat,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_getcwd,
        // Memory (bounded by the address-space limit).
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_mremap,
        libc::SYS_madvise,
        libc::SYS_brk,
        // Signal handlers of its own (CPython installs SIGINT's; SIGXCPU ends a CPU-bound run).
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        // Threads (created by `clone`, judged below) and their synchronisation.
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_set_tid_address,
        libc::SYS_gettid,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_restart_syscall,
        // The event loop: its Unix socket pair (socketpair judged below) and epoll.
        libc::SYS_getsockname,
        libc::SYS_getsockopt,
        libc::SYS_sendto,
        libc::SYS_recvfrom,
        libc::SYS_sendmsg,
        libc::SYS_recvmsg,
        libc::SYS_shutdown,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        // Time and sleeping.
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        // Facts about itself (`os.getpid()`, `resource`, `platform`, `os.cpu_count()`, random).
        libc::SYS_getpid,
        libc::SYS_getppid,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_getresuid,
        libc::SYS_getresgid,
        libc::SYS_getgroups,
        libc::SYS_getrusage,
        libc::SYS_getrlimit,
        libc::SYS_setrlimit,
        libc::SYS_uname,
        libc::SYS_sysinfo,
        libc::SYS_getrandom,
    ];
    // x86_64's older spellings, which the C library still uses for some calls.
    #[cfg(target_arch = "x86_64")]
    allowed.extend([
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_readlink,
        libc::SYS_access,
        libc::SYS_dup2,
        libc::SYS_epoll_wait,
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_time,
        libc::SYS_arch_prctl,
    ]);
    allowed
}

/// The filters a child installs, in order. The kernel runs them all and takes the strictest
/// answer; between two errors, the one installed last.
/// 1. the allow-list (above), with argument rules for `clone` (threads only, never with a
///    namespace flag), `socketpair` (Unix only), `ioctl` (terminal and non-blocking queries),
///    `fcntl` (descriptor flags only: no `F_SETPIPE_SZ`, no `F_SETOWN`), `prlimit64` (itself
///    only), `prctl` (`PR_SET_NO_NEW_PRIVS` only), `seccomp` (adding a filter without flags: it
///    can only restrict) and `execve` (only the interpreter's path, at the address the parent prepared);
/// 2. `clone3` answers "not implemented": its flags are behind a pointer a filter cannot read,
///    and the C library then falls back to `clone`, which rule 1 judges;
/// 3. calls that must never happen kill the process: any other `execve` — so the interpreter is
///    executed once, by the platform, and never again —, `execveat`, `ptrace` and
///    `process_vm_*`.
fn seccomp_filters(exec_path_address: u64) -> Result<Vec<BpfProgram>, String> {
    let arch = arch()?;
    let always = |syscall: i64| (syscall, Vec::<SeccompRule>::new());
    let condition = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
    };
    let rule = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(|e| e.to_string());
    let namespace_flags = (libc::CLONE_NEWUSER
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWTIME) as u64;
    let thread = libc::CLONE_THREAD as u64;
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = allowed_syscalls().into_iter().map(always).collect();
    allowed.insert(
        libc::SYS_clone,
        vec![rule(vec![condition(0, SeccompCmpOp::MaskedEq(thread | namespace_flags), thread)?])?],
    );
    allowed.insert(
        libc::SYS_socketpair,
        vec![rule(vec![condition(0, SeccompCmpOp::Eq, libc::AF_UNIX as u64)?])?],
    );
    let one_of = |arg: u8, values: &[u64]| -> Result<Vec<SeccompRule>, String> {
        values.iter().map(|v| rule(vec![condition(arg, SeccompCmpOp::Eq, *v)?])).collect()
    };
    allowed
        .insert(libc::SYS_ioctl, one_of(1, &[libc::TCGETS, libc::FIONBIO, libc::FIOCLEX, libc::FIONCLEX])?);
    let fcntl_commands =
        [libc::F_DUPFD, libc::F_DUPFD_CLOEXEC, libc::F_GETFD, libc::F_SETFD, libc::F_GETFL, libc::F_SETFL]
            .map(|c| c as u64);
    allowed.insert(libc::SYS_fcntl, one_of(1, &fcntl_commands)?);
    allowed.insert(libc::SYS_prlimit64, one_of(0, &[0])?);
    // Setting no_new_privs only restricts; the filters after this one set it as they install.
    allowed.insert(libc::SYS_prctl, one_of(0, &[libc::PR_SET_NO_NEW_PRIVS as u64])?);
    // Installing another filter (without flags) can only restrict further: the filters after
    // this one are installed that way.
    allowed.insert(
        libc::SYS_seccomp,
        vec![rule(vec![
            condition(0, SeccompCmpOp::Eq, libc::SECCOMP_SET_MODE_FILTER as u64)?,
            condition(1, SeccompCmpOp::Eq, 0)?,
        ])?],
    );
    allowed.insert(libc::SYS_execve, one_of(0, &[exec_path_address])?);
    let allow_list =
        SeccompFilter::new(allowed, SeccompAction::Errno(libc::EPERM as u32), SeccompAction::Allow, arch)
            .map_err(|e| e.to_string())?;
    let clone3 = SeccompFilter::new(
        [always(libc::SYS_clone3)].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let never: BTreeMap<i64, Vec<SeccompRule>> = [
        (libc::SYS_execve, vec![rule(vec![condition(0, SeccompCmpOp::Ne, exec_path_address)?])?]),
        always(libc::SYS_execveat),
        always(libc::SYS_ptrace),
        always(libc::SYS_process_vm_readv),
        always(libc::SYS_process_vm_writev),
    ]
    .into_iter()
    .collect();
    let never = SeccompFilter::new(never, SeccompAction::Allow, SeccompAction::KillProcess, arch)
        .map_err(|e| e.to_string())?;
    [allow_list, clone3, never]
        .into_iter()
        .map(|f| f.try_into().map_err(|e: seccompiler::BackendError| e.to_string()))
        .collect()
}

/// A command for one sandboxed interpreter run: `python3 -I -S -B -c <program>`, with an empty
/// environment, its own process group, and the layers applied in the child before it executes
/// the interpreter itself.
pub fn command(
    interpreter: &Interpreter,
    layers: Layers,
    identity: Option<ChildIdentity>,
    limits: RunLimits,
    program: &str,
) -> Result<tokio::process::Command, String> {
    let landlock = if layers.landlock_abi >= 1 {
        Some(landlock_ruleset(interpreter, layers.landlock_abi)?)
    } else {
        None
    };
    let path = exec_path(&interpreter.executable)?;
    let seccomp = if layers.seccomp { compiled_seccomp_filters(path)? } else { Vec::new() };
    let cpu_seconds = limits.timeout.as_secs().saturating_add(1);
    let args = ["-I", "-S", "-B", "-c", program]
        .into_iter()
        .map(|a| CString::new(a).map_err(|_| "an argument holds a NUL byte".to_string()));
    let args: Vec<CString> = std::iter::once(Ok(path.to_owned())).chain(args).collect::<Result<_, _>>()?;
    let mut plan = ChildPlan {
        identity,
        namespaces: layers.namespaces,
        landlock,
        seccomp,
        limits: ChildLimits {
            address_space: limits.memory_mb.saturating_mul(1024 * 1024),
            cpu_seconds,
            open_files: OPEN_FILES,
            // The interpreter and, with namespaces, the middle process count too.
            tasks: THREADS_PER_RUN + 2,
            file_size: 0,
        },
        exec: ExecPlan::new(path, args),
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
pub async fn probe_layers(interpreter: &Interpreter, identity: Option<ChildIdentity>) -> Layers {
    let none = Layers { namespaces: false, landlock_abi: 0, seccomp: false };
    let limits = RunLimits { memory_mb: 512, timeout: Duration::from_secs(10) };
    let works = |layers: Layers| async move {
        let Ok(mut command) = command(interpreter, layers, identity, limits, "print('ok')") else {
            return false;
        };
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
