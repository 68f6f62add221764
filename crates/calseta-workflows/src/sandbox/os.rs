//! The sandbox's operating-system calls: what runs in the child between `fork` and `exec`, the
//! kernel-feature probes, and killing a run's process group. This is the crate's only `unsafe`
//! code; each block is one libc call whose arguments are plain integers or live pointers.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;

use landlock::RulesetCreated;
use seccompiler::BpfProgram;

/// Resource limits set in the child (`None` = unchanged).
#[derive(Debug, Clone, Copy)]
pub struct ChildLimits {
    /// Address space, bytes.
    pub address_space: u64,
    /// CPU seconds.
    pub cpu_seconds: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Tasks (processes and threads) of the run's user. With the user namespace this counts the
    /// run's own tasks only (the kernel counts per user per namespace); it binds because the
    /// child is never root.
    pub tasks: u64,
    /// Largest file the child may write: 0.
    pub file_size: u64,
}

/// The host user and group a child runs as (never root where the server is root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildIdentity {
    /// Host uid.
    pub uid: libc::uid_t,
    /// Host gid.
    pub gid: libc::gid_t,
}

/// The interpreter's `execve` arguments, built before the fork so the child allocates nothing.
pub struct ExecPlan {
    /// The executable's path; its address is the one seccomp lets `execve` name.
    pub path: &'static std::ffi::CStr,
    /// Owns the argument strings `argv` points into.
    _args: Vec<CString>,
    /// `argv` as addresses (null-terminated), so the plan is `Send`.
    argv: Vec<usize>,
}

impl ExecPlan {
    /// `path` with `args` (the first is argv[0]).
    pub fn new(path: &'static std::ffi::CStr, args: Vec<CString>) -> ExecPlan {
        let mut argv: Vec<usize> = args.iter().map(|a| a.as_ptr() as usize).collect();
        argv.push(0);
        ExecPlan { path, _args: args, argv }
    }
}

/// What the child applies to itself before it executes the interpreter.
pub struct ChildPlan {
    /// The unprivileged user to become first (`None`: keep the server's, which is not root).
    pub identity: Option<ChildIdentity>,
    /// New user, network, PID, mount and IPC namespaces.
    pub namespaces: bool,
    /// The filesystem (and TCP) ruleset, restricted onto the child.
    pub landlock: Option<RulesetCreated>,
    /// Seccomp filters, applied in order (the strictest action of all filters wins).
    pub seccomp: Vec<BpfProgram>,
    /// Resource limits.
    pub limits: ChildLimits,
    /// The interpreter and its arguments.
    pub exec: ExecPlan,
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    set_limits(resource, value, value)
}

fn set_limits(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit reads the struct we pass by reference; no memory is retained.
    check(unsafe { libc::setrlimit(resource, &limit) })
}

/// Becomes `identity` for good: no supplementary groups, then gid, then uid (the order matters:
/// once the uid is dropped the gid can no longer change). Every capability goes with uid 0.
fn become_user(identity: ChildIdentity) -> io::Result<()> {
    // SAFETY: setgroups with a zero length reads no memory; setres[ug]id take integers.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(identity.gid, identity.gid, identity.gid))?;
        check(libc::setresuid(identity.uid, identity.uid, identity.uid))?;
    }
    // SAFETY: getuid/geteuid take nothing. A drop that did not happen must not go unnoticed.
    if unsafe { libc::getuid() != identity.uid || libc::geteuid() != identity.uid } {
        return Err(io::Error::other("the child kept its user"));
    }
    Ok(())
}

/// Runs in the forked child (from `pre_exec`): becomes the unprivileged user, enters the
/// namespaces, forks once more so that the interpreter is PID 1 of its own PID namespace (the
/// middle process only waits and relays the exit), then limits, Landlock and seccomp, and
/// executes the interpreter itself — the one `execve` the filter allows. Returns only on failure.
pub fn prepare_child(plan: &mut ChildPlan) -> io::Result<()> {
    // Nothing of the parent's open files past stdin, stdout and stderr survives the exec, even a
    // descriptor someone opened without close-on-exec.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes integers.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if let Some(identity) = plan.identity {
        become_user(identity)?;
    }
    if plan.namespaces {
        let flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWPID;
        // SAFETY: unshare takes flags only.
        check(unsafe { libc::unshare(flags) })?;
        // SAFETY: fork in a single-threaded child (std forked us); both sides continue below.
        let pid = unsafe { libc::fork() };
        if pid == -1 {
            return Err(io::Error::last_os_error());
        }
        if pid > 0 {
            relay_exit(pid);
        }
        // The interpreter dies with the middle process (which the parent kills on timeout); set
        // after the change of user, which clears it. Not without namespaces: there the parent is a
        // thread of the server, whose exit would kill a healthy run.
        // SAFETY: prctl with integer arguments.
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) })?;
    }
    let limits = plan.limits;
    set_limit(libc::RLIMIT_AS, limits.address_space)?;
    // SIGXCPU at the soft limit tells a CPU-limit stop apart from the parent's kill.
    set_limits(libc::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds.saturating_add(1))?;
    set_limit(libc::RLIMIT_NOFILE, limits.open_files)?;
    set_limit(libc::RLIMIT_NPROC, limits.tasks)?;
    set_limit(libc::RLIMIT_FSIZE, limits.file_size)?;
    set_limit(libc::RLIMIT_CORE, 0)?;
    // Locked memory and message queues are kernel memory outside the address-space limit.
    set_limit(libc::RLIMIT_MEMLOCK, 0)?;
    set_limit(libc::RLIMIT_MSGQUEUE, 0)?;
    if let Some(ruleset) = plan.landlock.take() {
        ruleset.restrict_self().map_err(|e| io::Error::other(e.to_string()))?;
    } else {
        // Landlock sets it when present; without it seccomp still needs no_new_privs.
        // SAFETY: prctl with integer arguments.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    }
    for filter in &plan.seccomp {
        seccompiler::apply_filter(filter).map_err(|e| io::Error::other(e.to_string()))?;
    }
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: the path is a static C string; argv is a null-terminated array of addresses of C
    // strings owned by the plan, alive until the exec replaces this process; envp is empty.
    unsafe {
        libc::execve(
            plan.exec.path.as_ptr(),
            plan.exec.argv.as_ptr().cast::<*const libc::c_char>(),
            envp.as_ptr(),
        )
    };
    Err(io::Error::last_os_error())
}

/// The middle process: closes every descriptor (so the parent sees end-of-file and exec success
/// exactly when the interpreter does), waits for the interpreter, and exits as it did.
fn relay_exit(child: libc::pid_t) -> ! {
    // SAFETY: close_range takes integers; this process only waits from here on.
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waitpid writes the status into our local.
        let waited = unsafe { libc::waitpid(child, &mut status, 0) };
        if waited == child || (waited == -1 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
        {
            break;
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    };
    // SAFETY: _exit ends this process at once.
    unsafe { libc::_exit(code) }
}

/// Kills a run: its whole process group (middle process and interpreter). Call it only while the
/// leader has not been reaped: until then its PID, and so the group's, cannot be reused.
pub fn kill_group(leader: u32) {
    if let Ok(pid) = libc::pid_t::try_from(leader) {
        // SAFETY: kill with integer arguments; a group that is already gone is not an error.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// Whether this process runs as root (its effective uid is 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The Landlock ABI the kernel offers (0 = none).
pub fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer and size 0 this only queries the version.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(version).unwrap_or(0).max(0)
}

/// Makes `command` run `prepare` in its child between fork and exec.
pub fn set_pre_exec<F>(command: &mut tokio::process::Command, prepare: F)
where
    F: FnMut() -> io::Result<()> + Send + Sync + 'static,
{
    // SAFETY: `prepare` runs in the forked child before exec and calls only the functions above:
    // system calls, and Landlock/seccomp set-up on values built before the fork.
    unsafe {
        command.pre_exec(prepare);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::io;

    /// One raw system call: its return value.
    type RawCall = fn() -> libc::c_long;

    /// Runs `call` in a forked child under the sandbox's filters (built for an interpreter path
    /// at an address no call here passes): the child's exit code is the errno the call failed
    /// with (0 when it succeeded), or 128 + the signal that ended it. The child makes only system
    /// calls between the fork and its exit.
    fn under_filters(call: RawCall) -> i32 {
        let filters = super::super::seccomp_filters(0x1000).unwrap();
        // SAFETY: the child applies the prepared filters, makes one system call and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            for filter in &filters {
                if seccompiler::apply_filter(filter).is_err() {
                    // SAFETY: ends the child.
                    unsafe { libc::_exit(100) }
                }
            }
            let code = if call() == -1 { io::Error::last_os_error().raw_os_error().unwrap_or(99) } else { 0 };
            // SAFETY: ends the child.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) }
    }

    #[test]
    fn the_filters_refuse_what_python_cannot_reach() {
        const KILLED: i32 = 128 + libc::SIGSYS;
        // SAFETY (each case): raw system calls with integer or null arguments.
        let cases: [(&str, RawCall, i32); 12] = [
            ("getpid", || unsafe { libc::syscall(libc::SYS_getpid) }, 0),
            ("x32 getpid", || unsafe { libc::syscall(libc::SYS_getpid | 0x4000_0000) }, libc::EPERM),
            (
                "clone of a thread into a new user namespace",
                || unsafe {
                    libc::syscall(libc::SYS_clone, libc::CLONE_THREAD | libc::CLONE_NEWUSER, 0, 0, 0, 0)
                },
                libc::EPERM,
            ),
            ("unshare", || unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) }, libc::EPERM),
            ("clone3", || unsafe { libc::syscall(libc::SYS_clone3, 0, 0) }, libc::ENOSYS),
            ("sync", || unsafe { libc::syscall(libc::SYS_sync) }, libc::EPERM),
            ("fsopen", || unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0) }, libc::EPERM),
            ("inotify_init1", || unsafe { libc::syscall(libc::SYS_inotify_init1, 0) }, libc::EPERM),
            ("io_setup", || unsafe { libc::syscall(libc::SYS_io_setup, 1, 0) }, libc::EPERM),
            ("pidfd_getfd", || unsafe { libc::syscall(libc::SYS_pidfd_getfd, 0, 0, 0) }, libc::EPERM),
            ("execveat", || unsafe { libc::syscall(libc::SYS_execveat, 0, c"".as_ptr(), 0, 0, 0) }, KILLED),
            ("ptrace", || unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) }, KILLED),
        ];
        for (what, call, expected) in cases {
            assert_eq!(under_filters(call), expected, "{what}");
        }
        // An execve of any path but the interpreter's (at the prepared address) kills.
        let execve = || unsafe {
            let argv = [c"true".as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null::<libc::c_char>()];
            libc::syscall(libc::SYS_execve, c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr())
        };
        assert_eq!(under_filters(execve), KILLED, "execve");
    }
}
