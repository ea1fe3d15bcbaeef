//! `keygate serve` and the CLI on the embedded store (contract section 6), through the real
//! binary: restarts keep everything, answered writes survive SIGKILL, two servers share one
//! directory with one winner per refresh race and one lockout count, the CLI works beside a
//! running server, files are private whatever the umask, and a bad data directory is one clear
//! line at start. Export and import move accounts and API keys to DynamoDB (moto) and back.

use keygate_tests::bins::{access_token, binary, http, login, post_json, run_with_stdin, succeeded as ok};
use keygate_tests::fixtures::PW;
use keygate_tests::serve::{ADMIN, Proc, Server, spawn_listening};
use keygate_tests::tempdir::TempDir;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn serve(data: &str) -> Server {
    Server::start(&[("KEYGATE_DATA_DIR", data)])
}

fn admin_token(addr: SocketAddr) -> String {
    access_token(addr, ADMIN.0, ADMIN.1)
}

fn validate(addr: SocketAddr, token: &str) -> u16 {
    http(
        addr,
        "GET",
        "/auth/validate",
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .status
}

fn kids(addr: SocketAddr) -> Vec<String> {
    let jwks = http(addr, "GET", "/.well-known/jwks.json", &[], "").json();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Polls `check` every 100 ms until it holds (at most 20 s): for changes another process makes.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keygate(data: &str, args: &[&str], stdin: Option<&str>, extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("keygate"));
    cmd.args(args)
        .env_remove("KEYGATE_TABLE")
        .env_remove("KEYGATE_SIGNING_SECRET_ID")
        .env("KEYGATE_DATA_DIR", data);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    run_with_stdin(cmd, stdin)
}

fn create_api_key(addr: SocketAddr, admin: &str, name: &str) -> String {
    let k = post_json(
        addr,
        "/admin/api-keys",
        &json!({"name": name, "roles": ["device"]}),
        Some(admin),
    );
    assert_eq!(k.status, 201, "{}", k.body);
    k.json()["api_key"].as_str().unwrap().to_owned()
}

fn api_key_login(addr: SocketAddr, key: &str) -> u16 {
    post_json(
        addr,
        "/auth/token",
        &json!({"grant_type": "api_key", "api_key": key}),
        None,
    )
    .status
}

#[test]
fn a_restart_keeps_accounts_api_keys_sessions_and_keys() {
    let dir = TempDir::new("restart");
    let data = dir.join("data");
    let s = serve(&data);
    let admin = admin_token(s.addr);
    let created = post_json(
        s.addr,
        "/admin/users",
        &json!({"username": "rhea", "password": PW, "roles": ["reader"]}),
        Some(&admin),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let pair = login(s.addr, "rhea", PW).json();
    let (access, refresh) = (
        pair["access_token"].as_str().unwrap().to_owned(),
        pair["refresh_token"].as_str().unwrap().to_owned(),
    );
    let key = create_api_key(s.addr, &admin, "sensor");
    let kids_before = kids(s.addr);
    // SIGKILL right after the last answered write: no shutdown code runs.
    s.kill();

    let s = serve(&data);
    assert_eq!(kids(s.addr), kids_before, "the same signing key after a restart");
    assert_eq!(
        validate(s.addr, &access),
        200,
        "a token from before the restart verifies"
    );
    let refreshed = post_json(s.addr, "/auth/refresh", &json!({"refresh_token": refresh}), None);
    assert_eq!(
        refreshed.status, 200,
        "a refresh token from before the restart refreshes: {}",
        refreshed.body
    );
    assert_eq!(api_key_login(s.addr, &key), 200);
    assert_eq!(login(s.addr, "rhea", PW).status, 200);
    // The retired refresh token is still known as retired: its reuse revokes the family.
    let reuse = post_json(s.addr, "/auth/refresh", &json!({"refresh_token": refresh}), None);
    assert_eq!(reuse.status, 401);
}

#[test]
fn answered_writes_survive_sigkill() {
    let dir = TempDir::new("sigkill");
    let data = dir.join("data");
    let s = serve(&data);
    let admin = admin_token(s.addr);
    let keys: Vec<String> = (0..25)
        .map(|i| create_api_key(s.addr, &admin, &format!("k{i}")))
        .collect();
    s.kill();
    let s = serve(&data);
    for k in &keys {
        assert_eq!(
            api_key_login(s.addr, k),
            200,
            "an API key answered before SIGKILL is lost"
        );
    }
}

#[test]
fn two_servers_on_one_directory_give_one_refresh_winner_and_one_lockout_count() {
    let dir = TempDir::new("two");
    let data = dir.join("data");
    let (a, b) = (serve(&data), serve(&data));
    let admin = admin_token(a.addr);
    let created = post_json(
        b.addr,
        "/admin/users",
        &json!({"username": "iris", "password": PW, "roles": []}),
        Some(&admin),
    );
    assert_eq!(
        created.status, 201,
        "an admin token of one server works on the other: {}",
        created.body
    );
    assert_eq!(
        login(a.addr, "iris", PW).status,
        200,
        "an account made on one is seen by the other"
    );

    for _ in 0..3 {
        let refresh = login(a.addr, "iris", PW).json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let addr = if i % 2 == 0 { a.addr } else { b.addr };
                    let r = refresh.clone();
                    scope.spawn(move || post_json(addr, "/auth/refresh", &json!({"refresh_token": r}), None).status)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
    }

    // Failures counted across both servers: five wrong passwords spread over both, then 429.
    let wrong: Vec<u16> = (0..5)
        .map(|i| {
            login(
                if i % 2 == 0 { a.addr } else { b.addr },
                "iris",
                "wrong password entirely",
            )
            .status
        })
        .collect();
    assert_eq!(wrong, vec![401; 5]);
    assert_eq!(login(b.addr, "iris", PW).status, 429);
    assert_eq!(login(a.addr, "iris", PW).status, 429);
}

#[test]
fn three_servers_started_at_once_on_an_empty_directory_agree_on_one_key_and_one_admin() {
    let dir = TempDir::new("three");
    let data = dir.join("data");
    let at_once = std::sync::Barrier::new(3);
    // Each `serve` ensures the same --admin; none may fail on the others' account.
    let servers: Vec<Server> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    at_once.wait();
                    serve(&data)
                })
            })
            .collect();
        started
            .into_iter()
            .map(|s| s.join().expect("a server did not start"))
            .collect()
    });

    let published: Vec<Value> = servers
        .iter()
        .map(|s| http(s.addr, "GET", "/.well-known/jwks.json", &[], "").json())
        .collect();
    assert_eq!(
        published[0]["keys"].as_array().map(Vec::len),
        Some(1),
        "one first key: {published:?}"
    );
    assert!(
        published.iter().all(|j| *j == published[0]),
        "the same key everywhere: {published:?}"
    );
    let kid = published[0]["keys"][0]["kid"].as_str().unwrap().to_owned();
    for s in &servers {
        let token = admin_token(s.addr);
        assert_eq!(kid_of(&token), kid, "signed with the one key");
        assert_eq!(validate(s.addr, &token), 200);
    }
    drop(servers);
    let exported = ok(&keygate(&data, &["export"], None, &[]));
    let accounts = exported
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["kind"] == "account")
        .count();
    assert_eq!(accounts, 1, "one admin account: {exported}");
}

#[cfg(unix)]
#[test]
fn every_file_in_the_data_directory_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("umask");
    let data = dir.join("data");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "umask 000 && exec \"$0\" serve --addr 127.0.0.1:0 --admin \"$1\"",
        &binary("keygate").display().to_string(),
        &format!("{}:{}", ADMIN.0, ADMIN.1),
    ])
    .env_remove("KEYGATE_TABLE")
    .env_remove("KEYGATE_SIGNING_SECRET_ID")
    .env("KEYGATE_DATA_DIR", &data);
    let (proc, addr): (Proc, SocketAddr) = spawn_listening(cmd);
    admin_token(addr);
    let backup = dir.join("copy.db");
    ok(&keygate(&data, &["backup", &backup], None, &[]));
    // A write after another process closed its connection: the WAL is (re)created by the server.
    admin_token(addr);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(std::path::Path::new(&data)), 0o700);
    let files: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 2, "the database and its WAL: {files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert_eq!(
        mode(std::path::Path::new(&backup)),
        0o600,
        "the backup holds hashes and keys"
    );
    drop(proc);
}

/// Starts `keygate serve` on `data` expecting it to refuse: one line on stderr, no panic.
fn refuses_to_start(data: &str, needle: &str) {
    let out = Command::new(binary("keygate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("KEYGATE_TABLE")
        .env_remove("KEYGATE_SIGNING_SECRET_ID")
        .env("KEYGATE_DATA_DIR", data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("keygate: ") && lines[0].contains(needle), "{err}");
}

#[test]
fn a_bad_data_directory_is_one_clear_line_at_start() {
    let dir = TempDir::new("bad");
    // A file where the directory should be.
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    refuses_to_start(&file, "KEYGATE_DATA_DIR");
    refuses_to_start(&format!("{file}/data"), "KEYGATE_DATA_DIR");

    // A damaged database.
    let damaged = dir.join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    std::fs::write(format!("{damaged}/keygate.db"), vec![0x5a; 8192]).unwrap();
    refuses_to_start(&damaged, "not a keygate database or is damaged");

    // A database from a newer keygate.
    let newer = dir.join("newer");
    drop(serve(&newer));
    let conn = rusqlite::Connection::open(format!("{newer}/keygate.db")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    refuses_to_start(&newer, "newer keygate (schema version 999");
}

#[test]
fn the_cli_works_on_the_directory_while_the_server_runs() {
    let dir = TempDir::new("cli");
    let data = dir.join("data");
    let s = serve(&data);

    let added = ok(&keygate(
        &data,
        &["user", "add", "bob", "--role", "ops", "--password-stdin"],
        Some(&format!("{PW}\n")),
        &[],
    ));
    assert!(added.contains("\"bob\""), "{added}");
    let bob = login(s.addr, "bob", PW);
    assert_eq!(bob.status, 200, "{}", bob.body);
    let bob_refresh = bob.json()["refresh_token"].as_str().unwrap().to_owned();

    let key: Value = serde_json::from_str(&ok(&keygate(
        &data,
        &["apikey", "create", "cam", "--role", "device"],
        None,
        &[],
    )))
    .unwrap();
    let api_key = key["api_key"].as_str().unwrap();
    assert_eq!(api_key_login(s.addr, api_key), 200);
    ok(&keygate(
        &data,
        &["apikey", "revoke", key["key_id"].as_str().unwrap()],
        None,
        &[],
    ));
    assert_eq!(api_key_login(s.addr, api_key), 401);

    ok(&keygate(&data, &["sessions", "revoke", "bob"], None, &[]));
    assert_eq!(
        post_json(s.addr, "/auth/refresh", &json!({"refresh_token": bob_refresh}), None).status,
        401
    );

    let issued = ok(&keygate(&data, &["token", "issue", "bob"], None, &[]));
    let old_token = issued.trim().to_owned();
    assert_eq!(
        validate(s.addr, &old_token),
        200,
        "a CLI token is signed by the server's key"
    );
    let old_kid = kid_of(&old_token);

    // Rotation by the CLI reaches the running server: the new key signs, the old one verifies.
    let rotated = ok(&keygate(&data, &["keys", "rotate"], None, &[]));
    assert!(rotated.contains("new current key"), "{rotated}");
    eventually("the server publishes the new key", || kids(s.addr).len() == 2);
    eventually("the server signs with the new key", || {
        kid_of(login(s.addr, "bob", PW).json()["access_token"].as_str().unwrap()) != old_kid
    });
    assert_eq!(
        validate(s.addr, &old_token),
        200,
        "tokens of the previous key keep verifying"
    );
    let listed: Vec<Value> = ok(&keygate(&data, &["keys", "list"], None, &[]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let states: Vec<(&str, &str)> = listed
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states.len(), 2, "{listed:?}");
    assert_eq!(states[1], (old_kid.as_str(), "previous"));
    assert_eq!(states[0].1, "current");
    assert!(
        listed
            .iter()
            .all(|k| k["alg"] == "RS256" && k["created_at"].is_string())
    );

    // Retiring the current key is refused; retiring the previous one stops trusting it.
    let current = states[0].0.to_owned();
    let refused = keygate(&data, &["keys", "retire", &current], None, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("current signing key"));
    ok(&keygate(&data, &["keys", "retire", &old_kid], None, &[]));
    eventually("the retired key is no longer published", || {
        kids(s.addr) == vec![current.clone()]
    });
    assert_eq!(validate(s.addr, &old_token), 401, "a retired key is no longer trusted");
}

#[test]
fn a_key_older_than_the_rotation_age_is_rotated_at_start() {
    let dir = TempDir::new("age");
    let data = dir.join("data");
    let first = kids(serve(&data).addr);
    assert_eq!(first.len(), 1);
    // Age the key by a day, then start with a one-day rotation age.
    let conn = rusqlite::Connection::open(format!("{data}/keygate.db")).unwrap();
    conn.execute("UPDATE signing_keys SET created_at = created_at - 86400", [])
        .unwrap();
    drop(conn);
    let s = Server::start(&[("KEYGATE_DATA_DIR", &data), ("KEYGATE_KEY_ROTATION_DAYS", "1")]);
    let now = kids(s.addr);
    assert_eq!(now.len(), 2, "current and previous: {now:?}");
    assert_eq!(now[1], first[0], "the old key stays published as previous");
}

#[test]
fn a_backup_taken_while_serving_starts_a_server_with_everything() {
    let dir = TempDir::new("backup");
    let data = dir.join("data");
    let s = serve(&data);
    let admin = admin_token(s.addr);
    let key = create_api_key(s.addr, &admin, "backed-up");
    let copy = dir.join("copy.db");
    let out = ok(&keygate(&data, &["backup", &copy], None, &[]));
    assert!(out.contains("backed up"), "{out}");
    assert!(
        !keygate(&data, &["backup", &copy], None, &[]).status.success(),
        "never overwrites"
    );
    let restored = dir.join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&copy, format!("{restored}/keygate.db")).unwrap();
    let r = serve(&restored);
    assert_eq!(kids(r.addr), kids(s.addr), "the keys are in the backup");
    assert_eq!(api_key_login(r.addr, &key), 200);
}

#[tokio::test]
async fn export_and_import_move_accounts_and_api_keys_to_dynamodb_and_back() {
    let (_, table) = keygate_tests::aws::fresh_table().await;
    let dir = TempDir::new("export");
    let (data, back) = (dir.join("data"), dir.join("back"));
    let s = serve(&data);
    let admin = admin_token(s.addr);
    let created = post_json(
        s.addr,
        "/admin/users",
        &json!({"username": "Zoë", "password": PW, "email": "zoe@example.org", "roles": ["reader"]}),
        Some(&admin),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = create_api_key(s.addr, &admin, "mover");
    drop(s);

    let exported = ok(&keygate(&data, &["export"], None, &[]));
    let lines: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines[0],
        json!({"kind": "header", "format": "keygate-export", "version": 1})
    );
    assert_eq!(lines.iter().filter(|l| l["kind"] == "account").count(), 2);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "api_key").count(), 1);
    assert!(!exported.contains(PW) && !exported.contains(&key), "never a raw secret");

    let to_dynamo = [("KEYGATE_TABLE", table.as_str())];
    let report: Value = serde_json::from_str(&ok(&keygate(&data, &["import"], Some(&exported), &to_dynamo))).unwrap();
    assert_eq!(
        report,
        json!({"accounts_imported": 2, "api_keys_imported": 1, "duplicates_refused": 0, "invalid_refused": 0})
    );
    // A second import refuses every duplicate and says so.
    let again = keygate(&data, &["import"], Some(&exported), &to_dynamo);
    assert!(!again.status.success());
    let report: Value = serde_json::from_str(String::from_utf8_lossy(&again.stdout).trim()).unwrap();
    assert_eq!(report["duplicates_refused"], 3);
    // A damaged line is refused without echoing it.
    let damaged = keygate(
        &data,
        &["import"],
        Some("{\"kind\":\"api_key\",\"secret\":\"s3cr3t-value\"}\n"),
        &to_dynamo,
    );
    assert!(!damaged.status.success());
    assert!(!String::from_utf8_lossy(&damaged.stderr).contains("s3cr3t-value"));

    // From DynamoDB into a fresh embedded store: the hashes still log in.
    let from_dynamo = ok(&keygate(&data, &["export"], None, &to_dynamo));
    assert_eq!(from_dynamo.lines().count(), exported.lines().count());
    ok(&keygate(&back, &["import"], Some(&from_dynamo), &[]));
    let r = serve(&back);
    assert_eq!(
        login(r.addr, "zoë", PW).status,
        200,
        "usernames compare after normalization"
    );
    assert_eq!(api_key_login(r.addr, &key), 200);
}
