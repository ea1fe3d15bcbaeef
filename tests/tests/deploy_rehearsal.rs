//! The deploy rehearsal: the stack that `sam deploy` makes from `template.yaml` itself (default
//! parameters plus what a user must give), built as CloudFormation would on moto
//! (`keygate_tests::stack`), then the README's walkthrough over HTTP against it: the first admin
//! from the CLI, login, the admin API behind the authorizer, refresh, logout, reset by mail
//! (moto's SES records it). Every AWS call each function made must be allowed by that function's
//! IAM policy in the template.

use keygate_tests::bins::{binary, http, json_call, login};
use keygate_tests::stack::Stack;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

const ADMIN_PW: &str = "a long admin passphrase 7";
const ANN_PW: &str = "tangerine kite orbit 42";
const ANN_NEW_PW: &str = "copper lantern meadow 19";

/// The README's first-admin step: `keygate user add` on the stack's table.
fn add_admin(table: &str) {
    let mut child = Command::new(binary("keygate"))
        .args(["user", "add", "admin", "--role", "admin", "--password-stdin"])
        .env("KEYGATE_TABLE", table)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keygate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{ADMIN_PW}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("keygate user add");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The reset link in the newest mail moto's SES delivered to `to`.
fn reset_token_mailed_to(to: &str) -> String {
    token_mailed_to(to, "https://app.example.com/reset?token=")
}

/// The token after `link` in the newest mail moto's SES delivered to `to`.
fn token_mailed_to(to: &str, link: &str) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let data = http(
        addr.parse().expect("moto address"),
        "GET",
        "/moto-api/data.json",
        &[],
        "",
    )
    .json();
    let body = data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|t| t.iter().any(|a| a == to))
        })
        .filter_map(|m| m["body"].as_str())
        .next_back()
        .unwrap_or_else(|| panic!("no mail to {to} in SES: {}", data["ses"]))
        .to_owned();
    let after = body
        .split(link)
        .nth(1)
        .unwrap_or_else(|| panic!("no link {link} in the mail: {body}"));
    after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.~%".contains(*c))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fresh_stack_from_template_yaml_passes_the_readme_walkthrough() {
    let stack = Stack::deploy(&[
        ("Issuer", "{https}"),
        ("MailFrom", "no-reply@example.com"),
        ("ResetUrl", "https://app.example.com/reset?token={token}"),
    ])
    .await;
    let issuer = stack.output("Issuer");
    assert_eq!(issuer, stack.https_url);

    // The user's own steps from the README: verify the sender in SES, add the first admin.
    let sdk = keygate_tests::aws::moto_sdk_config().await;
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity("no-reply@example.com")
        .send()
        .await
        .expect("verify the sender");
    add_admin(&stack.output("TableName"));

    // Right after the deploy, the first rotation has given the secret a key, published.
    let discovery = json_call(stack.http, "GET", "/.well-known/openid-configuration", None, None);
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    assert_eq!(discovery.json()["issuer"], issuer.as_str());
    let jwks = json_call(stack.http, "GET", "/.well-known/jwks.json", None, None);
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    assert_eq!(jwks.json()["keys"].as_array().map(Vec::len), Some(1), "{}", jwks.body);

    // 1. The admin logs in and creates a user, through the authorizer.
    let admin = login(stack.http, "admin", ADMIN_PW);
    assert_eq!(admin.status, 200, "{}", admin.body);
    let admin = admin.json()["access_token"].as_str().expect("access token").to_owned();
    let ann = json!({"username": "ann", "password": ANN_PW, "email": "ann@example.com", "roles": ["reader"]});
    let created = json_call(stack.http, "POST", "/admin/users", Some(&ann), Some(&admin));
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        stack.authorizer_calls() >= 1,
        "the admin route goes through the authorizer"
    );
    let anon = json_call(stack.http, "POST", "/admin/users", Some(&ann), None);
    assert_eq!(anon.status, 401, "no token: API Gateway refuses without a call");

    // 2. Ann logs in; her token is refused on the admin API by the authorizer (no admin role).
    let pair = login(stack.http, "ann", ANN_PW);
    assert_eq!(pair.status, 200, "{}", pair.body);
    let pair = pair.json();
    let denied = json_call(
        stack.http,
        "POST",
        "/admin/users",
        Some(&ann),
        pair["access_token"].as_str(),
    );
    assert_eq!(denied.status, 403, "{}", denied.body);

    // 3. Refresh rotates; the retired token presented again revokes the session.
    let first = pair["refresh_token"].as_str().expect("refresh token");
    let refreshed = json_call(
        stack.http,
        "POST",
        "/auth/refresh",
        Some(&json!({"refresh_token": first})),
        None,
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let second = refreshed.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let reused = json_call(
        stack.http,
        "POST",
        "/auth/refresh",
        Some(&json!({"refresh_token": first})),
        None,
    );
    assert_eq!(reused.status, 401, "{}", reused.body);
    let after_reuse = json_call(
        stack.http,
        "POST",
        "/auth/refresh",
        Some(&json!({"refresh_token": second})),
        None,
    );
    assert_eq!(after_reuse.status, 401, "the whole family is revoked");

    // 4. Log out: the session's refresh token stops working.
    let pair = login(stack.http, "ann", ANN_PW).json();
    let token = pair["refresh_token"].as_str().expect("refresh token");
    let out = json_call(
        stack.http,
        "POST",
        "/auth/revoke",
        Some(&json!({"refresh_token": token})),
        None,
    );
    assert_eq!(out.status, 200, "{}", out.body);
    let dead = json_call(
        stack.http,
        "POST",
        "/auth/refresh",
        Some(&json!({"refresh_token": token})),
        None,
    );
    assert_eq!(dead.status, 401);

    // 5. Forgot password: the link arrives by mail through SES; the reset works once.
    let forgot = json_call(
        stack.http,
        "POST",
        "/auth/password/forgot",
        Some(&json!({"username": "ann"})),
        None,
    );
    assert_eq!(forgot.status, 202, "{}", forgot.body);
    let token = reset_token_mailed_to("ann@example.com");
    let reset = json!({"token": token, "new_password": ANN_NEW_PW});
    let done = json_call(stack.http, "POST", "/auth/password/reset", Some(&reset), None);
    assert_eq!(done.status, 204, "{}", done.body);
    assert_eq!(login(stack.http, "ann", ANN_PW).status, 401);
    assert_eq!(login(stack.http, "ann", ANN_NEW_PW).status, 200);
    let again = json_call(stack.http, "POST", "/auth/password/reset", Some(&reset), None);
    assert_eq!(again.status, 400, "the token is spent");

    // 6. An invitation: the admin route that mails is served by the register function, behind
    // the authorizer; the link arrives through SES and makes the account with the chosen roles.
    let invite = json!({"email": "bo@example.com", "roles": ["reader"]});
    let invited = json_call(stack.http, "POST", "/admin/invitations", Some(&invite), Some(&admin));
    assert_eq!(invited.status, 201, "{}", invited.body);
    let listed = json_call(stack.http, "GET", "/admin/invitations", None, Some(&admin));
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()["invitations"][0]["email"], "bo@example.com");
    let token = token_mailed_to("bo@example.com", &format!("{issuer}/register?token="));
    let join = json!({"token": token, "username": "bo", "password": ANN_PW});
    let joined = json_call(stack.http, "POST", "/auth/register/complete", Some(&join), None);
    assert_eq!(joined.status, 201, "{}", joined.body);
    assert_eq!(joined.json()["roles"], json!(["reader"]));
    assert_eq!(login(stack.http, "bo", ANN_PW).status, 200);
    let closed = json_call(
        stack.http,
        "POST",
        "/auth/register",
        Some(&json!({"email": "x@example.com"})),
        None,
    );
    assert_eq!(closed.status, 403, "invite mode by default: {}", closed.body);

    // 7. A browser session: the cookie crosses API Gateway's payload 2.0 `cookies` both ways.
    let session = json_call(
        stack.http,
        "POST",
        "/auth/session",
        Some(&json!({"username": "bo", "password": ANN_PW})),
        None,
    );
    assert_eq!(session.status, 200, "{}", session.body);
    let csrf = session.json()["csrf_token"].as_str().expect("csrf").to_owned();
    let cookie = session
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let refreshed = http(
        stack.http,
        "POST",
        "/auth/session/refresh",
        &[("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())],
        "",
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(
        refreshed
            .header("set-cookie")
            .is_some_and(|c| c.starts_with("__Host-keygate-session=kgr_"))
    );

    // 8. A share link through the share function: minted, listed, revoked, on the public list.
    let bo = login(stack.http, "bo", ANN_PW).json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let shared = json_call(
        stack.http,
        "POST",
        "/auth/share",
        Some(&json!({"resource": "/graphs/42"})),
        Some(&bo),
    );
    assert_eq!(shared.status, 201, "{}", shared.body);
    let share_id = shared.json()["share_id"].as_str().expect("share id").to_owned();
    // The template's route policy (RouteRoles) reaches the share function: /admin/* is not
    // shareable, whoever asks.
    let admin_link = json_call(
        stack.http,
        "POST",
        "/auth/share",
        Some(&json!({"resource": "/admin/users"})),
        Some(&bo),
    );
    assert_eq!(admin_link.status, 403, "{}", admin_link.body);
    let mine = json_call(stack.http, "GET", "/auth/share", None, Some(&bo));
    assert_eq!(mine.json()["shares"][0]["share_id"], share_id.as_str(), "{}", mine.body);
    let gone = json_call(
        stack.http,
        "DELETE",
        &format!("/auth/share/{share_id}"),
        None,
        Some(&bo),
    );
    assert_eq!(gone.status, 204, "{}", gone.body);
    let revoked = json_call(stack.http, "GET", "/auth/share/revoked", None, None);
    assert_eq!(revoked.json()["revoked"], json!([share_id]), "{}", revoked.body);

    // The stack's wiring and its least-privilege policies held for everything above.
    eprintln!("AWS calls per function: {:#?}", stack.calls());
    assert_eq!(stack.problems(), Vec::<String>::new());
    assert_eq!(stack.denied_calls(), Vec::<String>::new());
}

#[test]
fn a_deploy_without_the_mail_parameters_is_refused() {
    // MailFrom and ResetUrl have no default: `sam deploy` asks for them, rather than deploying a
    // reset function that cannot send mail or links to a page that does not exist.
    let declared = keygate_tests::stack::translate(&Default::default());
    for p in ["MailFrom", "ResetUrl"] {
        assert!(
            declared["Parameters"][p].get("Default").is_none(),
            "{p} must be required"
        );
    }
}

#[test]
fn the_default_samconfig_environment_is_safe_for_real_users() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../samconfig.toml");
    let text = std::fs::read_to_string(path).expect("samconfig.toml");
    let default = text
        .split("[default.deploy.parameters]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a default deploy section");
    assert!(default.contains("TableDeletionProtection=true"), "{default}");
    assert!(default.contains("LogLevel=info"), "{default}");
}

#[test]
fn the_makefile_builds_for_the_templates_architecture() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("make")
        .args(["-n", "build-JwksFunction", "ARTIFACTS_DIR=/nonexistent"])
        .current_dir(root)
        .output()
        .expect("make");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("--target x86_64-unknown-linux-gnu"), "{plan}");
    assert!(plan.contains("3e00"), "the ELF machine is checked: {plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_domain_names_the_issuer_and_closes_the_default_endpoint() {
    let stack = Stack::deploy(&[
        ("DomainName", "auth.example.com"),
        (
            "CertificateArn",
            "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c",
        ),
        ("MailFrom", "no-reply@example.com"),
        ("ResetUrl", "https://app.example.com/reset?token={token}"),
    ])
    .await;
    assert_eq!(stack.output("Issuer"), "https://auth.example.com");
    for f in stack.functions.values() {
        let issuer = f
            .env
            .iter()
            .find(|(k, _)| k == "KEYGATE_ISSUER")
            .map(|(_, v)| v.as_str());
        assert_eq!(issuer, Some("https://auth.example.com"), "{}", f.logical_id);
    }
    let servers = stack
        .resolver
        .resolve(&stack.template["Resources"]["Api"]["Properties"]["Body"]["servers"])
        .expect("servers");
    assert_eq!(
        servers[0]["x-amazon-apigateway-endpoint-configuration"]["disableExecuteApiEndpoint"],
        true
    );
    assert!(stack.has("ApiDomain") && stack.has("ApiDomainMapping"));
    assert!(!stack.has("ApiDomainRecord"), "no hosted zone given: no record");
    // The first rotation ran here too: the stack has a published key.
    let jwks = json_call(stack.http, "GET", "/.well-known/jwks.json", None, None);
    assert_eq!(jwks.json()["keys"].as_array().map(Vec::len), Some(1), "{}", jwks.body);
}

#[tokio::test]
#[should_panic(expected = "rule IssuerOrDomain")]
async fn a_deploy_with_neither_issuer_nor_domain_is_refused() {
    Stack::deploy(&[
        ("MailFrom", "no-reply@example.com"),
        ("ResetUrl", "https://app.example.com/reset?token={token}"),
    ])
    .await;
}
