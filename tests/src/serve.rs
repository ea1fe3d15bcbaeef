//! `keygate serve`, the real binary, on a free loopback port with the embedded store.

use crate::bins::binary;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The admin account every test server is started with (`--admin`).
pub const ADMIN: (&str, &str) = ("admin", "correct-horse-battery-9");

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a program and waits for its "listening on http://ADDR" line on stderr; keeps draining
/// stderr afterwards so the program never blocks on a full pipe.
pub fn spawn_listening(mut cmd: Command) -> (Proc, SocketAddr) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the program exited before listening")
            .expect("read stderr");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("address")
                .parse()
                .expect("socket address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), addr)
}

/// A running `keygate serve`; killed when dropped.
pub struct Server {
    proc: Proc,
    pub addr: SocketAddr,
    /// Its data directory, when the test did not name one.
    _data: Option<crate::tempdir::TempDir>,
}

impl Server {
    /// Starts `keygate serve --addr 127.0.0.1:0 --admin admin:...` with `env` added, and waits
    /// until it says where it listens. Never uses AWS (the table and secret variables are removed).
    /// Without `KEYGATE_DATA_DIR` in `env`, it keeps its embedded store in a fresh directory.
    pub fn start(env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(binary("keygate"));
        cmd.args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--admin",
            &format!("{}:{}", ADMIN.0, ADMIN.1),
        ])
        .env_remove("KEYGATE_TABLE")
        .env_remove("KEYGATE_SIGNING_SECRET_ID");
        let data = (!env.iter().any(|(k, _)| *k == "KEYGATE_DATA_DIR")).then(|| crate::tempdir::TempDir::new("serve"));
        if let Some(d) = &data {
            cmd.env("KEYGATE_DATA_DIR", d.join("data"));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (proc, addr) = spawn_listening(cmd);
        Server {
            proc,
            addr,
            _data: data,
        }
    }

    /// Stops the server with SIGKILL: no shutdown code runs.
    pub fn kill(self) {
        drop(self);
    }

    /// The server's process id (for reading its memory use).
    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }
}
