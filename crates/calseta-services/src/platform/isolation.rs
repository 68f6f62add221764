//! Child-process isolation for work on untrusted input.
//!
//! The child is started with an empty environment (nothing of the parent's settings or secrets),
//! fed its input on stdin, and read on stdout up to a size bound; the parent kills it when the
//! wall-clock limit passes or when the caller goes away. The child is expected to limit its own
//! CPU time and memory before it touches the input (the `calseta` binary's internal subcommands
//! do), so a hostile or corrupt input can neither crash nor hang the server.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How much of a child's stderr is kept for the failure message.
const MAX_STDERR_BYTES: u64 = 64 * 1024;

/// Bounds on one child run.
#[derive(Debug, Clone, Copy)]
pub struct ChildLimits {
    /// Wall-clock time before the child is killed.
    pub timeout: Duration,
    /// Largest output read; beyond it the run fails.
    pub max_output_bytes: usize,
}

/// Why a child run produced no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildFailure {
    /// The program could not be started.
    #[error("cannot start {program}: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        reason: String,
    },
    /// Killed at the wall-clock limit.
    #[error("took longer than {} s", .0.as_secs())]
    TimedOut(Duration),
    /// Wrote more than the output bound.
    #[error("output larger than {0} bytes")]
    OutputTooLarge(usize),
    /// Exited unsuccessfully; the last line it wrote on stderr.
    #[error("{0}")]
    Failed(String),
}

/// Runs `program args…` with `input` on stdin under `limits`; its stdout when it exits with success.
pub async fn run_isolated(
    program: &Path,
    args: &[&str],
    input: &[u8],
    limits: ChildLimits,
) -> Result<Vec<u8>, ChildFailure> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ChildFailure::Spawn { program: program.display().to_string(), reason: e.to_string() })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ChildFailure::Spawn {
            program: program.display().to_string(),
            reason: "no pipes".into(),
        });
    };
    let input = input.to_vec();
    // Fed and drained from their own tasks: a child that stops reading its input, or writes much
    // on stderr, must not block the parent's read of its output.
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let drain = tokio::spawn(async move {
        let mut errors = Vec::new();
        let _ = (&mut stderr).take(MAX_STDERR_BYTES).read_to_end(&mut errors).await;
        // Whatever it writes past the bound is discarded so that it never blocks on a full pipe.
        let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
        String::from_utf8_lossy(&errors).into_owned()
    });
    let run = async {
        let mut output = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut chunk).await.map_err(|e| ChildFailure::Failed(e.to_string()))?;
            if n == 0 {
                break;
            }
            if output.len() + n > limits.max_output_bytes {
                // Stop at once; the child is killed when it is dropped below.
                return Err(ChildFailure::OutputTooLarge(limits.max_output_bytes));
            }
            output.extend_from_slice(&chunk[..n]);
        }
        let status = child.wait().await.map_err(|e| ChildFailure::Failed(e.to_string()))?;
        Ok((status, output))
    };
    let outcome = tokio::time::timeout(limits.timeout, run).await;
    feed.abort();
    match outcome {
        Err(_) => {
            drain.abort();
            Err(ChildFailure::TimedOut(limits.timeout))
        }
        Ok(Err(failure)) => {
            drain.abort();
            Err(failure)
        }
        Ok(Ok((status, output))) if status.success() => {
            drain.abort();
            Ok(output)
        }
        Ok(Ok(_)) => {
            let errors = drain.await.unwrap_or_default();
            let reason = errors.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("the child stopped");
            Err(ChildFailure::Failed(reason.trim().chars().take(300).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChildLimits = ChildLimits { timeout: Duration::from_secs(10), max_output_bytes: 1024 };

    #[tokio::test]
    async fn output_environment_and_failures() {
        let sh = Path::new("/bin/sh");
        let echoed = run_isolated(sh, &["-c", "cat; printf \"[$HOME]\""], b"in", LIMITS).await.unwrap();
        assert_eq!(echoed, b"in[]", "stdin reaches the child; the parent's environment does not");
        let failed =
            run_isolated(sh, &["-c", "echo first >&2; echo 'last words' >&2; exit 3"], b"", LIMITS).await;
        assert_eq!(failed, Err(ChildFailure::Failed("last words".into())));
        let big = run_isolated(sh, &["-c", "head -c 4096 /dev/zero"], b"", LIMITS).await;
        assert_eq!(big, Err(ChildFailure::OutputTooLarge(1024)));
        // A child that never stops writing is stopped at the bound, not at the wall-clock limit.
        let endless = run_isolated(sh, &["-c", "yes"], b"", LIMITS).await;
        assert_eq!(endless, Err(ChildFailure::OutputTooLarge(1024)));
        let noisy = run_isolated(sh, &["-c", "head -c 1000000 /dev/zero >&2; echo done"], b"", LIMITS).await;
        assert_eq!(noisy, Ok(b"done\n".to_vec()), "a child writing much on stderr is not blocked");
        let missing = run_isolated(Path::new("/nonexistent/calseta"), &[], b"", LIMITS).await;
        assert!(matches!(missing, Err(ChildFailure::Spawn { .. })), "{missing:?}");
    }

    #[tokio::test]
    async fn a_child_past_its_wall_clock_limit_is_killed() {
        let limits = ChildLimits { timeout: Duration::from_millis(200), ..LIMITS };
        let started = std::time::Instant::now();
        let slow = run_isolated(Path::new("/bin/sh"), &["-c", "exec sleep 30"], b"", limits).await;
        assert_eq!(slow, Err(ChildFailure::TimedOut(limits.timeout)));
        assert!(started.elapsed() < Duration::from_secs(30), "the parent did not wait for the child");
    }
}
