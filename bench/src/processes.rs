//! Starting the benchmark's processes from a runner: its sibling binaries and the programs it
//! measures against, each pinned to a CPU when `taskset` is there.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command};

use crate::BoxError;

/// Where a runner finds the other binaries, and whether it pins processes to CPUs.
#[derive(Debug, Clone)]
pub struct Launcher {
    bin: PathBuf,
    pin: bool,
}

impl Launcher {
    /// The binaries beside the running one, pinned unless `no_pin` is set or `taskset` is
    /// missing (which is said on stderr).
    pub fn new(no_pin: bool) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let bin = exe
            .parent()
            .ok_or_else(|| std::io::Error::other("the runner has no directory"))?
            .to_path_buf();
        let pin = !no_pin && Command::new("taskset").arg("-V").output().is_ok();
        if !pin {
            eprintln!("not pinning: taskset is missing or --no-pin was given");
        }
        Ok(Launcher { bin, pin })
    }

    /// `program` (a path, or a name looked up on the `PATH`), pinned to `cpu` unless pinning
    /// is off.
    pub fn command(&self, cpu: u32, program: impl AsRef<OsStr>) -> Command {
        if !self.pin {
            return Command::new(program);
        }
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program);
        command
    }

    /// The benchmark's binary `name` (`wsio-bench-server`, `wsio-bench-load`), pinned to
    /// `cpu` unless pinning is off.
    pub fn binary(&self, cpu: u32, name: &str) -> Command {
        self.command(cpu, self.bin.join(name))
    }
}

/// The first line a process writes on its standard output, trimmed.
pub fn first_line(stdout: ChildStdout) -> std::io::Result<String> {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// The address a benchmark server announced in its first line, `listening ADDR` (its stdout
/// piped).
pub fn listening(server: &mut Child) -> Result<String, BoxError> {
    let line = first_line(server.stdout.take().ok_or("no stdout")?)?;
    let addr = line
        .strip_prefix("listening ")
        .ok_or_else(|| format!("unexpected server output: {line}"))?;
    Ok(addr.to_string())
}

/// The generator's `result` line: `name=value` fields.
#[derive(Debug, Clone)]
pub struct Fields(pub String);

impl Fields {
    /// The values of the fields `names`, in that order.
    pub fn get(&self, names: &[&str]) -> Result<Vec<f64>, BoxError> {
        names
            .iter()
            .map(|name| {
                self.0
                    .split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                    .ok_or_else(|| {
                        format!("no {name} in the generator's output: {}", self.0).into()
                    })
            })
            .collect()
    }
}
