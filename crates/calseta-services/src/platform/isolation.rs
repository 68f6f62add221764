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
    // Fed from its own task: a child that stops reading must not block the parent's reads.
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let run = async {
        let mut output = Vec::new();
        let mut errors = String::new();
        let read_out = async {
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = stdout.read(&mut chunk).await?;
                if n == 0 || output.len() + n > limits.max_output_bytes {
                    return Ok::<bool, std::io::Error>(n == 0);
                }
                output.extend_from_slice(&chunk[..n]);
            }
        };
        let (complete, _) = tokio::join!(read_out, stderr.read_to_string(&mut errors));
        let status = child.wait().await;
        (complete, status, output, errors)
    };
    let outcome = tokio::time::timeout(limits.timeout, run).await;
    feed.abort();
    match outcome {
        Err(_) => Err(ChildFailure::TimedOut(limits.timeout)),
        Ok((Ok(false), _, _, _)) => Err(ChildFailure::OutputTooLarge(limits.max_output_bytes)),
        Ok((_, Ok(status), output, _)) if status.success() => Ok(output),
        Ok((_, _, _, errors)) => {
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
