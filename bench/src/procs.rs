//! The processes the bench starts (Sesame nodes, the peer, pinned helpers): each is registered
//! when spawned and stopped on the way out, whatever way that is (the end of the run, an error,
//! Ctrl-C). Stopping is SIGTERM (through `kill(1)`: the workspace forbids `unsafe`, and so a
//! direct `kill(2)`), a few seconds' grace, then SIGKILL; `kill_on_drop` is the last resort if
//! the registry itself is dropped while unwinding.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::{Child, Command};

#[derive(Debug)]
struct Managed {
    name: String,
    pid: u32,
    child: Child,
}

/// What to start.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: Option<&'a Path>,
    pub log: &'a Path,
    /// The core to pin it to.
    pub pin: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Procs {
    running: Mutex<Vec<Managed>>,
}

impl Procs {
    /// Starts a process (under `taskset -c CORE` when pinned), its standard output and error
    /// appended to its log; returns its pid (taskset execs the program, so the pid is the
    /// server's).
    pub fn spawn(&self, launch: &Launch<'_>) -> Result<u32, String> {
        let Launch {
            name,
            program,
            args,
            env,
            cwd,
            log,
            pin,
        } = *launch;
        let mut command = match pin {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        if let Some(dir) = cwd {
            command.current_dir(dir);
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))?;
        let pid = child.id().ok_or_else(|| format!("{name} exited at once"))?;
        self.running.lock().expect("process list").push(Managed {
            name: name.to_string(),
            pid,
            child,
        });
        Ok(pid)
    }

    /// Whether the process is still running (not exited, not a zombie).
    pub fn alive(&self, pid: u32) -> bool {
        let mut list = self.running.lock().expect("process list");
        list.iter_mut()
            .find(|m| m.pid == pid)
            .is_some_and(|m| matches!(m.child.try_wait(), Ok(None)))
    }

    /// Stops one process: SIGTERM, up to 5 s, then SIGKILL.
    pub async fn stop(&self, pid: u32) {
        let managed = {
            let mut list = self.running.lock().expect("process list");
            list.iter()
                .position(|m| m.pid == pid)
                .map(|i| list.remove(i))
        };
        if let Some(m) = managed {
            terminate(m).await;
        }
    }

    /// Stops everything still running, all at once.
    pub async fn stop_all(&self) {
        let all: Vec<Managed> = std::mem::take(&mut *self.running.lock().expect("process list"));
        let stops: Vec<_> = all
            .into_iter()
            .map(|m| tokio::spawn(terminate(m)))
            .collect();
        for stop in stops {
            let _ = stop.await;
        }
    }
}

async fn terminate(mut m: Managed) {
    if matches!(m.child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(m.pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(5), m.child.wait())
        .await
        .is_err()
    {
        eprintln!("{} (pid {}) ignored SIGTERM: SIGKILL", m.name, m.pid);
        let _ = m.child.kill().await;
    }
}

/// VmRSS and VmHWM of a process, in kB, from `/proc/PID/status`.
pub fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The last `lines` lines of a log, to show why a process failed.
pub fn tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Pins every thread of this process to `cores` (e.g. "1", or "0-1" to undo), through
/// `taskset -a -p`: the load generator moves to its own core for the per-core mode.
pub async fn pin_self(cores: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cores} failed: {status}"))
    }
}

/// A free TCP port on 127.0.0.1 (bound then released: the server binds it right after).
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs a command to its end (e.g. `sesame migrate`), its output appended to `log`.
pub async fn run_to_end(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    log: &Path,
) -> Result<(), String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let status = command
        .status()
        .await
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} failed ({status}):\n{}",
            program.display(),
            args.join(" "),
            tail(log, 20)
        ))
    }
}

/// This binary's path, to start its `argon2` subcommand pinned.
pub fn current_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))
}
