//! A real terminal for the console tests: one tmux server of the test's
//! own (so parallel tests and the developer's sessions stay apart), one
//! session `t` running a shell command. Every byte the command writes is
//! also copied to a file, to check what the console sends and in which order.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
    /// Every byte the command writes to the terminal.
    output: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Runs the shell `command` in a `width`×`height` terminal. The pane
    /// stays after it exits, showing `exit status: N` (tmux itself reaps
    /// its panes lazily, so that line is how tests learn the status).
    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tmux = Self {
            socket: format!("walletops-test-{name}-{}", std::process::id()),
            output: dir.path().join("output"),
            _dir: dir,
        };
        // The command waits for a first Enter, so that the copy of its output starts first.
        let command = format!("read _; {command}; echo \"exit status: $?\"");
        let (width, height) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &width,
            "-y",
            &height,
            "-s",
            "t",
            "sh",
            "-c",
            &command,
        ]);
        tmux.run(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        let copy = format!("cat > {}", tmux.output.display());
        tmux.run(&["pipe-pane", "-o", "-t", "t", &copy]);
        tmux.keys(&["Enter"]);
        tmux
    }

    /// One tmux command on this server; it must succeed.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed: the console tests drive the console in it");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// A tmux format variable of the pane, e.g. `alternate_on`.
    pub fn var(&self, name: &str) -> String {
        self.run(&["display-message", "-p", "-t", "t", &format!("#{{{name}}}")])
            .trim()
            .to_string()
    }

    /// Key names (`Enter`, `Tab`, `q`), each sent on its own.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "t", k]);
        }
    }

    /// Literal text, as if typed.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Waits up to `secs` for `check` to hold on the screen, which it
    /// returns; fails with the screen otherwise.
    pub fn wait(&self, what: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the command wrote so far.
    pub fn written(&self) -> String {
        // pipe-pane's copy may lag the screen by a moment.
        std::thread::sleep(Duration::from_millis(300));
        String::from_utf8_lossy(&std::fs::read(&self.output).unwrap()).into_owned()
    }

    /// Waits up to `secs` for the command to exit; everything it wrote, and
    /// its exit status.
    pub fn output(&self, secs: u64) -> (String, String) {
        let screen = self.wait("the command to exit", secs, |s| s.contains("exit status: "));
        let status = screen
            .lines()
            .find_map(|l| l.trim().strip_prefix("exit status: "))
            .unwrap()
            .to_string();
        (self.written(), status)
    }

    /// Stops the server and so the command; also done on drop.
    pub fn kill(&self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.kill();
    }
}
