//! AWS's own Lambda Runtime Interface Emulator (what `sam local invoke` runs inside its
//! container), from the aws-sam-cli wheel that `.ci/test` installs into its virtualenv: no Docker.

use crate::bins::http;
use crate::serve::Proc;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The virtualenv of `.ci/test` (`KEYGATE_VENV`, default `.ci/venv`).
pub fn venv() -> PathBuf {
    PathBuf::from(
        std::env::var("KEYGATE_VENV")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/venv").to_owned()),
    )
}

/// `aws-lambda-rie-x86_64` inside the virtualenv's samcli package.
pub fn rie() -> PathBuf {
    let lib = venv().join("lib");
    let found = std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|py| {
            let p = py.path().join("site-packages/samcli/local/rapid/aws-lambda-rie-x86_64");
            p.exists().then_some(p)
        });
    found.unwrap_or_else(|| {
        panic!(
            "no aws-lambda-rie under {}: .ci/test installs aws-sam-cli",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A function binary under the RIE: the process and its invoke endpoint.
pub struct Rie {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Rie {
    /// Starts `bootstrap` under the RIE with `env`; its output goes to `log` (or nowhere).
    pub fn start(bootstrap: &Path, env: &[(String, String)], log: Option<&Path>) -> Rie {
        let (api, emu) = (free_port(), free_port());
        let mut cmd = Command::new(rie());
        cmd.arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{api}"))
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{emu}"))
            .arg(bootstrap)
            .stdin(Stdio::null());
        match log.and_then(|p| std::fs::File::create(p).ok()) {
            Some(f) => {
                let e = f.try_clone().expect("log file");
                cmd.stdout(f).stderr(e);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let proc = Proc(cmd.spawn().expect("spawn aws-lambda-rie"));
        let addr: SocketAddr = format!("127.0.0.1:{emu}").parse().expect("addr");
        for _ in 0..400 {
            if TcpStream::connect(addr).is_ok() {
                return Rie { proc, addr };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("aws-lambda-rie did not listen on {addr}");
    }

    /// Invokes the function with `event` and returns what it answered (an error document
    /// `{"errorType", "errorMessage"}` when the function failed).
    pub fn invoke(&self, event: &Value) -> Value {
        let a = http(
            self.addr,
            "POST",
            "/2015-03-31/functions/function/invocations",
            &[],
            &event.to_string(),
        );
        if a.status != 200 {
            return serde_json::json!({"errorType": "RieStatus", "errorMessage": format!("{}: {}", a.status, a.body)});
        }
        a.json()
    }
}
