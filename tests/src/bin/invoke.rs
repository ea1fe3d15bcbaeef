//! Runs one function binary on one event under the Lambda Runtime API emulator, without Docker
//! (what `sam local invoke` does with a container):
//!
//! ```sh
//! cargo build --workspace
//! KEYGATE_TABLE=... KEYGATE_SIGNING_SECRET_ID=... \
//!   cargo run -p keygate-tests --bin invoke -- authenticate events/authenticate-password.json
//! ```
//!
//! The function sees this process's environment (KEYGATE_*, AWS_*). Prints the function's answer
//! as JSON on stdout and its logs on stderr; exits 1 if the invocation failed.

use keygate_tests::emulator::LambdaProcess;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [function, event_path] = args.as_slice() else {
        eprintln!(
            "usage: invoke FUNCTION EVENT.json   (FUNCTION: authenticate, refresh, revoke, jwks, forgot-password-request, forgot-password-confirm, admin, authorizer, rotate-signing-key)"
        );
        return ExitCode::FAILURE;
    };
    let event = match std::fs::read_to_string(event_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("invoke: {event_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_default();
    let binary = dir.join(function);
    if !binary.exists() {
        eprintln!(
            "invoke: {} is missing: run `cargo build --workspace` first",
            binary.display()
        );
        return ExitCode::FAILURE;
    }
    let mut f = LambdaProcess::start(&binary, &[]).await;
    let result = f.invoke(event).await;
    eprint!("{}", f.logs());
    if let Some(d) = f.init_duration() {
        eprintln!("invoke: init {:.1} ms", d.as_secs_f64() * 1000.0);
    }
    match result {
        Ok(answer) => {
            println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invoke: the invocation failed: {e:?}");
            ExitCode::FAILURE
        }
    }
}
