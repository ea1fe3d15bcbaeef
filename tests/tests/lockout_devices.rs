//! Lockout cannot keep the owner out (contract section 12): a browser login sets a device
//! cookie; logins that present it count their failures on that device, not on the username;
//! admins and the CLI clear a username's lockout. In process, on the embedded store.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{Method, header};
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_tests::bins::{binary, run_with_stdin};
use keygate_tests::inproc::{App, PW, Resp, basic};
use serde_json::{Value, json};

const WRONG: &str = "certainly not the password";

/// The app in process ([`App`]), with ann, bob and root (an admin), and this file's helpers.
struct T(App);

impl std::ops::Deref for T {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

async fn setup() -> T {
    let t = T(App::setup().env("KEYGATE_MAILER", "log").start().await);
    for (name, roles) in [("ann", &[][..]), ("bob", &[]), ("root", &["admin"])] {
        t.user(name, roles, None).await;
    }
    t
}

/// A device cookie as the browser sends it back, beside another cookie.
fn cookie_header(device: &str) -> String {
    format!("theme=dark; __Host-keygate-device={device}")
}

impl T {
    /// A password login at `path` (`/auth/session` or `/auth/token`), with a device cookie or not.
    async fn login_at(&self, path: &str, user: &str, pw: &str, device: Option<&str>) -> Resp {
        let cookie = device.map(cookie_header);
        let mut h = vec![("content-type", "application/json")];
        if let Some(c) = &cookie {
            h.push(("cookie", c.as_str()));
        }
        let body = json!({"grant_type": "password", "username": user, "password": pw}).to_string();
        self.call(Method::POST, path, &h, &body).await
    }

    async fn browser(&self, user: &str, pw: &str, device: Option<&str>) -> Resp {
        self.login_at("/auth/session", user, pw, device).await
    }

    async fn token(&self, user: &str, pw: &str, device: Option<&str>) -> Resp {
        self.login_at("/auth/token", user, pw, device).await
    }

    /// A password login by HTTP Basic (no body) at `/auth/token`.
    async fn basic(&self, user: &str, pw: &str, device: Option<&str>) -> Resp {
        let auth = basic(user, pw);
        let cookie = device.map(cookie_header);
        let mut h = vec![("authorization", auth.as_str())];
        if let Some(c) = &cookie {
            h.push(("cookie", c.as_str()));
        }
        self.call(Method::POST, "/auth/token", &h, "").await
    }

    /// A browser login of `user` that must succeed: its device cookie.
    async fn device_of(&self, user: &str) -> String {
        device_cookie(&self.browser(user, PW, None).await)
    }

    async fn admin(&self, bearer: &str, path: &str) -> Resp {
        let auth = format!("Bearer {bearer}");
        self.call(Method::POST, path, &[("authorization", auth.as_str())], "")
            .await
    }

    async fn root_token(&self) -> String {
        let r = self.token("root", PW, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }
}

/// The device cookie of a successful answer, with every attribute the contract names.
fn device_cookie(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.set_cookie("__Host-keygate-device");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=31536000"] {
        assert!(c.split("; ").any(|a| a == attr), "{attr} in {c}");
    }
    assert!(!c.contains("Domain"), "{c}");
    c.split(';').next().unwrap()["__Host-keygate-device=".len()..].to_owned()
}

fn assert_status(r: &Resp, status: u16, code: Option<&str>, what: &str) {
    assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
    if let Some(code) = code {
        assert_eq!(r.body["error"], code, "{what}: {}", r.body);
    }
}

fn assert_locked(r: &Resp, what: &str) {
    assert_status(r, 429, Some("too_many_attempts"), what);
    let retry: i64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{what}: Retry-After {retry}");
}

/// The JSON of one part (0 header, 1 claims) of a compact JWS.
fn part(jws: &str, i: usize) -> Value {
    serde_json::from_slice(&B64.decode(jws.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// Ten wrong passwords from strangers, without a cookie: the username is locked.
async fn strangers_lock(t: &T, user: &str) {
    for i in 0..10 {
        let r = t.token(user, WRONG, None).await;
        assert!(matches!(r.status.as_u16(), 401 | 429), "guess {i}: {}", r.body);
    }
    assert_locked(&t.token(user, PW, None).await, "the username after strangers' guesses");
}

#[tokio::test]
async fn a_browser_login_names_the_browser_with_a_signed_device_cookie_for_a_year() {
    let t = setup().await;
    let login = t.browser("ann", PW, None).await;
    let device = device_cookie(&login);
    assert!(
        login
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-keygate-session=")),
        "the session cookie goes out too"
    );
    let (h, c) = (part(&device, 0), part(&device, 1));
    assert_eq!(h["typ"], "device+jwt", "{h}");
    let ann = t
        .app
        .store
        .account(&keygate_shared::domain::UsernameKey::of_any("ann"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c["sub"], ann.user_id.as_str(), "{c}");
    assert_eq!(c["device_id"].as_str().unwrap().len(), 32, "128 bits, hex: {c}");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 31_536_000);
    assert!(c.get("aud").is_none(), "addressed to no API: {c}");
    assert_ne!(
        device_cookie(&t.browser("ann", PW, None).await),
        device,
        "each login names the browser afresh"
    );
    let refused = t.browser("ann", WRONG, None).await;
    assert_status(&refused, 401, Some("invalid_grant"), "a failed login");
    assert!(refused.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn strangers_lock_the_username_but_not_the_owners_browser() {
    let t = setup().await;
    let device = t.device_of("ann").await;
    strangers_lock(&t, "ann").await;
    // The owner's browser, by every password login: the session, the grant, HTTP Basic.
    let again = t.browser("ann", PW, Some(&device)).await;
    device_cookie(&again);
    assert_status(
        &t.token("ann", PW, Some(&device)).await,
        200,
        None,
        "the grant with the cookie",
    );
    assert_status(
        &t.basic("ann", PW, Some(&device)).await,
        200,
        None,
        "Basic with the cookie",
    );
    // The owner's success cleared the device's counter only: strangers are still locked out.
    assert_locked(&t.token("ann", PW, None).await, "the username, still");
    assert_locked(&t.basic("ann", PW, None).await, "the username by Basic, still");
}

#[tokio::test]
async fn wrong_passwords_with_the_device_cookie_lock_only_that_device() {
    let t = setup().await;
    let (laptop, phone) = (t.device_of("ann").await, t.device_of("ann").await);
    for i in 0..5 {
        let r = t.browser("ann", WRONG, Some(&laptop)).await;
        assert_status(&r, 401, Some("invalid_grant"), &format!("laptop guess {i}"));
    }
    assert_locked(&t.browser("ann", PW, Some(&laptop)).await, "the laptop");
    assert_locked(&t.token("ann", PW, Some(&laptop)).await, "the laptop by the grant");
    assert_status(&t.browser("ann", PW, Some(&phone)).await, 200, None, "another device");
    assert_status(&t.token("ann", PW, None).await, 200, None, "the username");
}

#[tokio::test]
async fn forged_tampered_expired_or_other_accounts_cookies_count_on_the_username() {
    let t = setup().await;
    let ann = t.device_of("ann").await;
    let bob = t.device_of("bob").await;
    let (h, p, s) = {
        let mut it = ann.split('.');
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    };
    let claims = part(&ann, 1);
    let with_claims = |c: &Value| format!("{h}.{}.{s}", B64.encode(c.to_string()));
    let mut other_device = claims.clone();
    other_device["device_id"] = "0123456789abcdef0123456789abcdef".into();
    let key = t.app.keys.signing_key().await.unwrap();
    let mut foreign: Value = serde_json::from_str(&SigningKey::generate(Alg::RS256).unwrap().to_jwk_json()).unwrap();
    foreign["kid"] = key.kid().into();
    let foreign = SigningKey::from_jwk_json(&foreign.to_string()).unwrap();
    let mut expired = claims.clone();
    expired["iat"] = (claims["iat"].as_i64().unwrap() - 31_536_000 - 3600).into();
    expired["exp"] = (claims["iat"].as_i64().unwrap() - 3600).into();
    let access = t.token("ann", PW, None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut flipped = s.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let cookies = [
        ("another device id, same signature", with_claims(&other_device)),
        (
            "a broken signature",
            format!("{h}.{p}.{}", String::from_utf8(flipped).unwrap()),
        ),
        (
            "signed by a key not published",
            foreign.sign_typed("device+jwt", &claims).unwrap(),
        ),
        ("expired", key.sign_typed("device+jwt", &expired).unwrap()),
        ("bob's", bob.clone()),
        ("an access token", access),
        ("not a token", "garbage".to_owned()),
    ];
    for (i, (what, cookie)) in cookies.iter().enumerate() {
        let r = t.browser("ann", WRONG, Some(cookie)).await;
        if i < 5 {
            assert_status(&r, 401, Some("invalid_grant"), what);
        } else {
            assert_locked(&r, what);
        }
    }
    assert_locked(&t.token("ann", PW, None).await, "the username took every failure");
    assert_status(&t.browser("ann", PW, Some(&ann)).await, 200, None, "ann's own device");
    assert_status(
        &t.browser("bob", PW, Some(&bob)).await,
        200,
        None,
        "bob's device, untouched",
    );
    assert_status(&t.token("bob", PW, None).await, 200, None, "bob's username, untouched");
    // An unknown username with a real cookie: answered as any unknown username.
    for i in 0..5 {
        assert_status(
            &t.token("ghost", WRONG, Some(&ann)).await,
            401,
            Some("invalid_grant"),
            &format!("ghost {i}"),
        );
    }
    assert_locked(&t.token("ghost", WRONG, Some(&ann)).await, "ghost");
}

#[tokio::test]
async fn the_device_cookie_is_never_an_access_token() {
    let t = setup().await;
    let device = t.device_of("root").await;
    let bearer = format!("Bearer {device}");
    let r = t
        .call(Method::GET, "/auth/validate", &[("authorization", bearer.as_str())], "")
        .await;
    assert_status(&r, 401, None, "/auth/validate");
    let r = t.admin(&device, "/admin/users/ann/unlock").await;
    assert_status(&r, 401, Some("invalid_token"), "the admin API");
    let r = t
        .call(
            Method::POST,
            "/admin/api-keys",
            &[("authorization", bearer.as_str()), ("content-type", "application/json")],
            r#"{"name": "probe", "roles": ["admin"]}"#,
        )
        .await;
    assert_status(&r, 401, Some("invalid_token"), "the admin API");
    assert!(t.app.verify_access_token(&device).await.is_err());
}

#[tokio::test]
async fn admins_unlock_a_username() {
    let t = setup().await;
    strangers_lock(&t, "ann").await;
    let root = t.root_token().await;
    let bob = t.token("bob", PW, None).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_status(
        &t.admin(&bob, "/admin/users/ann/unlock").await,
        403,
        Some("insufficient_scope"),
        "no admin role",
    );
    assert_status(
        &t.admin("nope", "/admin/users/ann/unlock").await,
        401,
        Some("invalid_token"),
        "no token",
    );
    assert_locked(&t.token("ann", PW, None).await, "refused unlocks change nothing");
    let r = t.admin(&root, "/admin/users/ANN/unlock").await;
    assert_status(&r, 204, None, "unlock");
    assert_status(&t.token("ann", PW, None).await, 200, None, "unlocked");
    assert_status(
        &t.admin(&root, "/admin/users/nobody/unlock").await,
        404,
        Some("not_found"),
        "unknown user",
    );
    let auth = format!("Bearer {root}");
    let r = t
        .call(
            Method::GET,
            "/admin/users/ann/unlock",
            &[("authorization", auth.as_str())],
            "",
        )
        .await;
    assert_status(&r, 405, None, "GET");
    assert_eq!(r.headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn keygate_user_unlock_clears_a_lockout() {
    let t = setup().await;
    strangers_lock(&t, "ann").await;
    let unlock = |name: &str| {
        let mut cmd = std::process::Command::new(binary("keygate"));
        cmd.args(["user", "unlock", name])
            .env("KEYGATE_DATA_DIR", t.dir.join("data"))
            .env_remove("KEYGATE_TABLE")
            .env_remove("KEYGATE_SIGNING_SECRET_ID");
        run_with_stdin(cmd, None)
    };
    let o = unlock("Ann");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_status(&t.token("ann", PW, None).await, 200, None, "unlocked by the CLI");
    let o = unlock("nobody");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no such user"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
