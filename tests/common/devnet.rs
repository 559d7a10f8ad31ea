//! `walletops tron-sim` as a process, the way a developer starts a devnet:
//! its printed URL and test accounts, and Ctrl-C to stop it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

/// A running `walletops tron-sim`; killed when dropped.
pub struct SimProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub url: String,
    /// (address, private key hex) of each printed test account.
    pub accounts: Vec<(String, String)>,
    /// What it printed up to the URL.
    pub banner: String,
}

/// Starts `walletops tron-sim ARGS --listen 127.0.0.1:0` and reads its
/// banner up to the line with the URL.
pub fn start(args: &[&str]) -> SimProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_walletops"))
        .arg("tron-sim")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run walletops tron-sim");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("tron-sim exited before listening: {banner}{err}");
        }
        banner.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the URL is printed")
        .trim_end_matches('/')
        .to_string();
    let accounts = banner
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [n, addr, "private", "key", key] if n.starts_with('(') => {
                    Some((addr.to_string(), key.to_string()))
                }
                _ => None,
            }
        })
        .collect();
    SimProcess {
        child,
        stdout,
        url,
        accounts,
        banner,
    }
}

/// What `tron-sim` printed and how it ended.
pub struct Stopped {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl SimProcess {
    /// Ctrl-C (SIGINT), then waits for the exit.
    pub fn interrupt(mut self) -> Stopped {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let status = self.child.wait().unwrap();
        let mut stdout = String::new();
        self.stdout.read_to_string(&mut stdout).unwrap();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).unwrap();
        }
        Stopped {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
