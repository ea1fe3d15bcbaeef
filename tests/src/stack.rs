//! A deploy rehearsal: the stack `sam deploy` makes from `template.yaml`, built the way
//! CloudFormation builds it, on moto and the function binaries.
//!
//! - The template goes through SAM's own transform (`tests/deploy/sam_translate.py`, samtranslator
//!   from the aws-sam-cli wheel), so Globals, events, roles and the HTTP API's OpenAPI body are
//!   what CloudFormation receives.
//! - Intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, conditions, `Fn::FindInMap`, ...) are
//!   resolved here; an unknown one fails the rehearsal. Resources are created in dependency order
//!   (`DependsOn` and references), skipping those whose condition is false.
//! - The table is created from its own definition, the secret as `GenerateSecretString` leaves
//!   it, and the `RotationSchedule` rotates at once through the rotation function's four steps.
//! - Every function runs under AWS's Runtime Interface Emulator with the environment, memory and
//!   timeout the template gives it, and talks to AWS through its own counting proxy, so that each
//!   call can be checked against that function's IAM policy (action and resource).
//! - The HTTP API is served from the OpenAPI body: routes, payload format, the Lambda authorizer
//!   (identity sources, simple responses, result caching by identity), and the invoke
//!   permissions. It listens on plain HTTP for the test's client and on HTTPS (a test CA the
//!   functions trust through `SSL_CERT_FILE`) for the issuer URL, where the authorizer fetches
//!   the JWKS as it would on AWS.

use crate::aws_proxy::AwsProxy;
use crate::bins::{binary, function_for};
use crate::rie::{Rie, venv};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
const API_ID: &str = "rehearsal1";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `template.yaml` after the SAM transform, with parameter values `params`.
pub fn translate(params: &BTreeMap<String, String>) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(venv().join("bin/python"))
        .arg(root.join("tests/deploy/sam_translate.py"))
        .arg(root.join("template.yaml"))
        .args(params.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .expect("run tests/deploy/sam_translate.py (.ci/test installs aws-sam-cli)");
    assert!(
        out.status.success(),
        "the SAM transform failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the transform's JSON")
}

/// Resolves CloudFormation intrinsics against parameter values and created resources.
#[derive(Default)]
pub struct Resolver {
    pub params: HashMap<String, Value>,
    pub refs: HashMap<String, Value>,
    pub atts: HashMap<String, Value>,
    pub conditions: HashMap<String, bool>,
    pub mappings: Value,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a string, got {other}"),
    }
}

impl Resolver {
    fn reference(&self, name: &str) -> Value {
        self.params
            .get(name)
            .or_else(|| self.refs.get(name))
            .cloned()
            .unwrap_or_else(|| panic!("Ref {name}: no such parameter or resource (yet)"))
    }

    fn attribute(&self, id: &str, att: &str) -> Value {
        self.atts
            .get(&format!("{id}.{att}"))
            .cloned()
            .unwrap_or_else(|| panic!("Fn::GetAtt {id}.{att}: unknown (or not created yet)"))
    }

    fn sub(&self, template: &str, vars: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .unwrap_or_else(|| panic!("Fn::Sub: unclosed ${{ in {template}"));
            let name = &after[..end];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&text(v));
            } else if let Some((id, att)) = name.split_once('.') {
                out.push_str(&text(&self.attribute(id, att)));
            } else {
                out.push_str(&text(&self.reference(name)));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn truth(&self, v: &Value) -> bool {
        match self.resolve(v) {
            Some(Value::Bool(b)) => b,
            other => panic!("expected a condition, got {other:?}"),
        }
    }

    /// The value of `v` with every intrinsic resolved; `None` for `AWS::NoValue`.
    pub fn resolve(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, a) = m.iter().next().expect("one entry");
                let arg = |i: usize| a.get(i).unwrap_or_else(|| panic!("{k}: argument {i} missing"));
                match k.as_str() {
                    "Ref" => {
                        let name = a.as_str().expect("Ref name");
                        (name != "AWS::NoValue").then(|| self.reference(name))
                    }
                    "Fn::GetAtt" => {
                        let (id, att) = match a {
                            Value::String(s) => s.split_once('.').map(|(i, t)| (i.to_owned(), t.to_owned())),
                            Value::Array(x) => Some((text(&x[0]), text(&x[1]))),
                            _ => None,
                        }
                        .expect("Fn::GetAtt arguments");
                        Some(self.attribute(&id, &att))
                    }
                    "Fn::Sub" => {
                        let (tpl, vars) = match a {
                            Value::String(s) => (s.clone(), Map::new()),
                            Value::Array(x) => {
                                let vars = self
                                    .resolve(&x[1])
                                    .and_then(|v| v.as_object().cloned())
                                    .unwrap_or_default();
                                (text(&x[0]), vars)
                            }
                            _ => panic!("Fn::Sub arguments"),
                        };
                        Some(Value::String(self.sub(&tpl, &vars)))
                    }
                    "Fn::If" => {
                        let name = text(arg(0));
                        let holds = *self
                            .conditions
                            .get(&name)
                            .unwrap_or_else(|| panic!("Fn::If: no condition {name}"));
                        self.resolve(if holds { arg(1) } else { arg(2) })
                    }
                    "Fn::Equals" => Some(Value::Bool(self.resolve(arg(0)) == self.resolve(arg(1)))),
                    "Fn::Not" => Some(Value::Bool(!self.truth(arg(0)))),
                    "Fn::And" => Some(Value::Bool(a.as_array().expect("list").iter().all(|c| self.truth(c)))),
                    "Fn::Or" => Some(Value::Bool(a.as_array().expect("list").iter().any(|c| self.truth(c)))),
                    "Condition" => Some(Value::Bool(
                        *self
                            .conditions
                            .get(&text(a))
                            .unwrap_or_else(|| panic!("no condition {a}")),
                    )),
                    "Fn::FindInMap" => {
                        let keys: Vec<String> = (0..3).map(|i| text(&self.resolve(arg(i)).expect("key"))).collect();
                        Some(self.mappings[&keys[0]][&keys[1]][&keys[2]].clone()).filter(|v| !v.is_null())
                    }
                    "Fn::Join" => {
                        let sep = text(arg(0));
                        let items = self
                            .resolve(arg(1))
                            .and_then(|v| v.as_array().cloned())
                            .unwrap_or_default();
                        Some(Value::String(items.iter().map(text).collect::<Vec<_>>().join(&sep)))
                    }
                    "Fn::Split" => {
                        let sep = text(arg(0));
                        let s = text(&self.resolve(arg(1)).expect("Fn::Split string"));
                        Some(Value::Array(
                            s.split(sep.as_str()).map(|p| Value::String(p.into())).collect(),
                        ))
                    }
                    "Fn::Select" => {
                        let i: usize = text(&self.resolve(arg(0)).expect("index")).parse().expect("index");
                        self.resolve(arg(1)).and_then(|v| v.get(i).cloned())
                    }
                    other if other.starts_with("Fn::") => panic!("the rehearsal does not know {other}"),
                    _ => Some(Value::Object(self.resolve_map(m))),
                }
            }
            Value::Object(m) => Some(Value::Object(self.resolve_map(m))),
            Value::Array(xs) => Some(Value::Array(xs.iter().filter_map(|x| self.resolve(x)).collect())),
            other => Some(other.clone()),
        }
    }

    fn resolve_map(&self, m: &Map<String, Value>) -> Map<String, Value> {
        m.iter()
            .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
            .collect()
    }
}

/// The resources a value refers to (`Ref`, `Fn::GetAtt`, `${X}` in `Fn::Sub`).
fn references(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, a) in m {
                match (k.as_str(), a) {
                    ("Ref", Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("Fn::GetAtt", Value::Array(x)) => {
                        out.insert(text(&x[0]));
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        out.insert(s.split('.').next().unwrap_or("").to_owned());
                    }
                    ("Fn::Sub", sub) => {
                        let tpl = match sub {
                            Value::Array(x) => {
                                references(&x[1], out);
                                text(&x[0])
                            }
                            other => text(other),
                        };
                        for part in tpl.split("${").skip(1) {
                            let name = part.split('}').next().unwrap_or("");
                            out.insert(name.split('.').next().unwrap_or("").to_owned());
                        }
                    }
                    _ => references(a, out),
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// Resource ids in an order CloudFormation could create them (dependencies first). CloudFormation
/// creates independent resources in parallel, in no promised order; the rehearsal picks the
/// order that exposes a missing dependency: log groups as late as their dependents allow, so a
/// function run before its log group exists (Lambda then makes the group, and the stack cannot)
/// is seen.
pub fn creation_order(resources: &Map<String, Value>) -> Vec<String> {
    let late = |id: &str| resources[id]["Type"] == "AWS::Logs::LogGroup";
    let deps: BTreeMap<&String, HashSet<String>> = resources
        .iter()
        .map(|(id, r)| {
            let mut d = HashSet::new();
            references(r.get("Properties").unwrap_or(&Value::Null), &mut d);
            match r.get("DependsOn") {
                Some(Value::String(s)) => {
                    d.insert(s.clone());
                }
                Some(Value::Array(xs)) => d.extend(xs.iter().map(text)),
                _ => {}
            }
            d.retain(|x| resources.contains_key(x));
            (id, d)
        })
        .collect();
    let mut order: Vec<String> = Vec::new();
    while order.len() < deps.len() {
        let ready = |(id, d): &(&&String, &HashSet<String>)| !order.contains(id) && d.iter().all(|x| order.contains(x));
        let next = deps
            .iter()
            .filter(|e| ready(e))
            .min_by_key(|(id, _)| late(id))
            .map(|(id, _)| (*id).clone())
            .unwrap_or_else(|| {
                panic!(
                    "a dependency cycle among {:?}",
                    deps.keys().filter(|k| !order.contains(k)).collect::<Vec<_>>()
                )
            });
        order.push(next);
    }
    order
}

/// A function of the stack, running under the RIE.
pub struct Function {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub role: String,
    pub proxy: AwsProxy,
    pub log: PathBuf,
    /// The environment Lambda gives it (the template's variables and Lambda's own).
    pub env: Vec<(String, String)>,
    rie: Mutex<Rie>,
}

impl Function {
    /// Invokes the function (one invocation at a time, as one Lambda instance runs them).
    pub fn invoke(&self, event: &Value) -> Value {
        lock(&self.rie).invoke(event)
    }

    /// What the function logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// An HTTP API route from the OpenAPI body.
#[derive(Debug, Clone)]
struct Route {
    method: String,
    path: String,
    function: String,
    payload: String,
    authorizer: Option<String>,
}

/// A Lambda authorizer from the OpenAPI body's security schemes.
#[derive(Debug, Clone)]
struct AuthorizerSpec {
    function: String,
    identity: Vec<String>,
    ttl: u64,
    simple: bool,
    payload: String,
}

/// One `AWS::Lambda::Permission`.
#[derive(Debug, Clone)]
struct Permission {
    function: String,
    principal: String,
    source_arn: Option<String>,
}

/// An authorizer's cached answer is keyed by the authorizer and its identity-source values.
type CacheKey = (String, Vec<String>);

#[derive(Default)]
struct Front {
    routes: Vec<Route>,
    authorizers: HashMap<String, AuthorizerSpec>,
    functions: HashMap<String, Arc<Function>>,
    permissions: Vec<Permission>,
    log_groups: Mutex<HashSet<String>>,
    auto_log_groups: Mutex<HashSet<String>>,
    cache: Mutex<HashMap<CacheKey, (Instant, Value)>>,
    problems: Mutex<Vec<String>>,
    authorizer_calls: Mutex<u64>,
}

/// IAM-style pattern match (`*` any run, `?` one character).
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn template_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    for (i, seg) in t.iter().enumerate() {
        if seg.starts_with('{') && seg.ends_with("+}") {
            return p.len() > i && p[i..].iter().all(|s| !s.is_empty());
        }
        match p.get(i) {
            Some(s) if seg.starts_with('{') && seg.ends_with('}') && !s.is_empty() => {}
            Some(s) if s == seg => {}
            _ => return false,
        }
    }
    t.len() == p.len()
}

impl Front {
    fn route(&self, method: &str, path: &str) -> Option<&Route> {
        // Exact paths before templates, exact methods before ANY, as API Gateway picks.
        let mut candidates: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| (r.method == method || r.method == "ANY") && template_matches(&r.path, path))
            .collect();
        candidates.sort_by_key(|r| (r.path.contains('{'), r.method == "ANY"));
        candidates.first().copied()
    }

    fn problem(&self, p: String) {
        lock(&self.problems).push(p);
    }

    /// Invokes a function for API Gateway, checking its invoke permission first.
    async fn invoke(&self, logical_id: &str, source_arn: &str, event: Value) -> Option<Value> {
        let f = self.functions.get(logical_id)?.clone();
        let allowed = self.permissions.iter().any(|p| {
            p.function == f.name
                && p.principal == "apigateway.amazonaws.com"
                && p.source_arn.as_deref().is_none_or(|a| glob(a, source_arn))
        });
        if !allowed {
            self.problem(format!(
                "API Gateway may not invoke {logical_id} as {source_arn}: no AWS::Lambda::Permission allows it"
            ));
            return None;
        }
        self.invoked(&f.name);
        tokio::task::spawn_blocking(move || f.invoke(&event)).await.ok()
    }

    /// Lambda creates a function's log group on its first invocation when none exists; a
    /// template that declares that group afterwards then fails to create it.
    fn invoked(&self, function_name: &str) {
        let group = format!("/aws/lambda/{function_name}");
        if !lock(&self.log_groups).contains(&group) {
            lock(&self.auto_log_groups).insert(group);
        }
    }
}

fn answer(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

async fn serve_api(State(front): State<Arc<Front>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return answer(400, json!({"message": "Bad Request"})),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let Some(route) = front.route(&method, &path).cloned() else {
        return answer(404, json!({"message": "Not Found"}));
    };
    let route_key = format!("{} {}", route.method, route.path);
    let mut headers = Map::new();
    for (k, v) in &parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        let e = headers
            .entry(k.as_str().to_owned())
            .or_insert(Value::String(String::new()));
        let joined = match e.as_str() {
            Some("") => v,
            Some(prev) => format!("{prev},{v}"),
            None => v,
        };
        *e = Value::String(joined);
    }
    let cookies: Vec<Value> = headers
        .get("cookie")
        .and_then(Value::as_str)
        .map(|c| c.split(';').map(|p| Value::String(p.trim().to_owned())).collect())
        .unwrap_or_default();
    let request_context = json!({
        "accountId": ACCOUNT, "apiId": API_ID, "domainName": "rehearsal1.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": API_ID, "requestId": "rehearsal-request", "routeKey": route_key, "stage": "$default",
        "time": "02/Dec/2026:06:00:00 +0000", "timeEpoch": 1_796_191_200_000_u64,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": headers.get("user-agent").cloned().unwrap_or(Value::String(String::new()))},
    });
    let route_arn = format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/{method}{path}");
    let mut context = request_context.clone();
    if let Some(name) = &route.authorizer {
        let Some(spec) = front.authorizers.get(name).cloned() else {
            return answer(500, json!({"message": "Internal Server Error"}));
        };
        let mut identity = Vec::new();
        for source in &spec.identity {
            let value = if let Some(h) = source.strip_prefix("$request.header.") {
                headers
                    .get(&h.to_ascii_lowercase())
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            } else if source == "$context.routeKey" {
                Some(route_key.clone())
            } else if source == "$context.httpMethod" {
                Some(method.clone())
            } else {
                front.problem(format!("the rehearsal does not know the identity source {source}"));
                None
            };
            match value {
                Some(v) => identity.push(v),
                // API Gateway refuses without calling the authorizer.
                None => return answer(401, json!({"message": "Unauthorized"})),
            }
        }
        let key = (name.clone(), identity.clone());
        let cached = lock(&front.cache)
            .get(&key)
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(spec.ttl))
            .map(|(_, v)| v.clone());
        let decision = match cached {
            Some(d) => d,
            None => {
                if spec.payload != "2.0" || !spec.simple {
                    front.problem(format!(
                        "authorizer {name}: the rehearsal serves payload 2.0 simple responses only"
                    ));
                }
                let event = json!({
                    "version": "2.0", "type": "REQUEST", "routeArn": route_arn, "identitySource": identity,
                    "routeKey": route_key, "rawPath": path, "rawQueryString": query, "cookies": cookies,
                    "headers": headers, "requestContext": request_context,
                });
                *lock(&front.authorizer_calls) += 1;
                let authorizer_arn = format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/authorizers/{name}");
                let Some(out) = front.invoke(&spec.function, &authorizer_arn, event).await else {
                    return answer(500, json!({"message": "Internal Server Error"}));
                };
                if out.get("isAuthorized").is_none() {
                    return answer(500, json!({"message": "Internal Server Error"}));
                }
                if spec.ttl > 0 {
                    lock(&front.cache).insert(key, (Instant::now(), out.clone()));
                }
                out
            }
        };
        if decision["isAuthorized"] != true {
            return answer(403, json!({"message": "Forbidden"}));
        }
        context["authorizer"] = json!({"lambda": decision.get("context").cloned().unwrap_or(json!({}))});
    }
    if route.payload != "2.0" {
        front.problem(format!("route {route_key}: the rehearsal serves payload 2.0 only"));
    }
    let (body_text, b64) = match std::str::from_utf8(&body) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => {
            use base64::Engine as _;
            (base64::engine::general_purpose::STANDARD.encode(&body), true)
        }
    };
    let mut event = json!({
        "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": query,
        "headers": headers, "requestContext": context, "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body_text);
    }
    let source = format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/{method}{path}");
    let Some(out) = front.invoke(&route.function, &source, event).await else {
        return answer(500, json!({"message": "Internal Server Error"}));
    };
    let Some(status) = out.get("statusCode").and_then(Value::as_u64) else {
        return answer(500, json!({"message": "Internal Server Error"}));
    };
    let mut b = Response::builder().status(u16::try_from(status).unwrap_or(500));
    if let Some(h) = out.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            b = b.header(k, text(v));
        }
    }
    for c in out.get("cookies").and_then(Value::as_array).into_iter().flatten() {
        b = b.header("set-cookie", text(c));
    }
    let body = match (out.get("body").and_then(Value::as_str), out["isBase64Encoded"] == true) {
        (Some(s), true) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default()
        }
        (Some(s), false) => s.as_bytes().to_vec(),
        (None, _) => Vec::new(),
    };
    b.body(Body::from(body)).unwrap_or_default()
}

/// A TLS listener for axum, with a certificate from the rehearsal's test CA.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for 127.0.0.1 under `dir`: (ca.pem, leaf.pem, leaf.key).
pub fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=keygate rehearsal CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write leaf.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    (dir.join("ca.pem"), dir.join("leaf.pem"), dir.join("leaf.key"))
}

/// A TLS acceptor serving `cert` (PEM chain) with `key`.
pub fn tls_acceptor(cert: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("leaf.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(key).expect("leaf.key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// The deployed stack.
pub struct Stack {
    /// The template after the SAM transform.
    pub template: Value,
    pub resolver: Resolver,
    /// Plain HTTP address of the API (for the test's client).
    pub http: SocketAddr,
    /// The HTTPS URL of the API (the issuer).
    pub https_url: String,
    pub functions: HashMap<String, Arc<Function>>,
    front: Arc<Front>,
    pub dir: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The parameter values of a deploy: the template's defaults and `given`. A parameter without
/// a default that is not given fails the deploy, as `sam deploy` does.
fn parameter_values(raw: &Value, given: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (name, p) in raw["Parameters"].as_object().into_iter().flatten() {
        let value = given
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| p.get("Default").map(text))
            .unwrap_or_else(|| panic!("parameter {name} has no default and was not given"));
        if let Some(allowed) = p.get("AllowedValues").and_then(Value::as_array) {
            assert!(
                allowed.iter().any(|a| text(a) == value),
                "{name}={value} is not allowed"
            );
        }
        values.insert(name.clone(), value);
    }
    for (n, _) in given {
        assert!(values.contains_key(*n), "the template has no parameter {n}");
    }
    values
}

impl Stack {
    /// Deploys `template.yaml` with `given` parameter values; `{https}` in a value stands for
    /// the HTTPS URL of the API.
    pub async fn deploy(given: &[(&str, &str)]) -> Stack {
        let dir = std::env::temp_dir().join(crate::aws::unique_name("keygate-stack"));
        std::fs::create_dir_all(&dir).expect("stack dir");
        let (ca, cert, key) = test_ca(&dir);
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tls_tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let http = http_listener.local_addr().expect("addr");
        let https_url = format!("https://127.0.0.1:{}", tls_tcp.local_addr().expect("addr").port());
        let given: Vec<(&str, String)> = given
            .iter()
            .map(|(k, v)| (*k, v.replace("{https}", &https_url)))
            .collect();

        // Parameters are read from the untransformed template's declaration (the transform
        // keeps them), then the transform sees the same values.
        let declared = translate(&BTreeMap::new());
        let params = parameter_values(&declared, &given);
        let template = translate(&params);
        let mut r = Resolver {
            mappings: template["Mappings"].clone(),
            ..Resolver::default()
        };
        for (k, v) in &params {
            r.params.insert(k.clone(), Value::String(v.clone()));
        }
        for (k, v) in [
            ("AWS::Region", REGION.to_owned()),
            ("AWS::AccountId", ACCOUNT.to_owned()),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::URLSuffix", "amazonaws.com".to_owned()),
            ("AWS::StackName", "keygate".to_owned()),
            (
                "AWS::StackId",
                format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/keygate/rehearsal"),
            ),
        ] {
            r.params.insert(k.to_owned(), Value::String(v));
        }
        let conditions = template["Conditions"].as_object().cloned().unwrap_or_default();
        // Conditions may use other conditions: evaluate until every one is known.
        while r.conditions.len() < conditions.len() {
            let before = r.conditions.len();
            for (name, expr) in &conditions {
                if r.conditions.contains_key(name) {
                    continue;
                }
                let mut used = HashSet::new();
                conditions_used(expr, &mut used);
                if used.iter().all(|c| r.conditions.contains_key(c)) {
                    let holds = r.truth(expr);
                    r.conditions.insert(name.clone(), holds);
                }
            }
            assert!(r.conditions.len() > before, "conditions refer to each other in a cycle");
        }

        // Rules: CloudFormation refuses the parameters before creating anything.
        for (name, rule) in template["Rules"].as_object().into_iter().flatten() {
            if rule.get("RuleCondition").is_none_or(|c| r.truth(c)) {
                for a in rule["Assertions"].as_array().into_iter().flatten() {
                    assert!(r.truth(&a["Assert"]), "rule {name}: {}", a["AssertDescription"]);
                }
            }
        }

        let sdk = crate::aws::moto_sdk_config().await;
        let resources = template["Resources"].as_object().cloned().expect("Resources");
        let mut front = Front::default();
        let mut tasks = Vec::new();
        let mut functions: HashMap<String, Arc<Function>> = HashMap::new();
        for id in creation_order(&resources) {
            let res = &resources[&id];
            if let Some(c) = res.get("Condition").and_then(Value::as_str)
                && !r.conditions[c]
            {
                continue;
            }
            let kind = res["Type"].as_str().expect("Type");
            let props = r
                .resolve(res.get("Properties").unwrap_or(&json!({})))
                .unwrap_or(json!({}));
            match kind {
                "AWS::DynamoDB::Table" => create_table(&sdk, &id, &props, &mut r).await,
                "AWS::SecretsManager::Secret" => create_secret(&sdk, &id, &props, &mut r).await,
                "AWS::IAM::Role" => {
                    r.refs.insert(id.clone(), json!(format!("keygate-{id}")));
                    r.atts.insert(
                        format!("{id}.Arn"),
                        json!(format!("arn:aws:iam::{ACCOUNT}:role/keygate-{id}")),
                    );
                    r.atts.insert(format!("{id}.Policies"), props["Policies"].clone());
                }
                "AWS::Lambda::Function" => {
                    let f = start_function(&id, &props, &r, &dir, &ca).await;
                    r.refs.insert(id.clone(), json!(f.name));
                    r.atts.insert(format!("{id}.Arn"), json!(f.arn));
                    functions.insert(id.clone(), Arc::new(f));
                    front.functions = functions.clone();
                }
                "AWS::Lambda::Permission" => {
                    let function = text(&props["FunctionName"]);
                    let function = function.rsplit(':').next().unwrap_or(&function).to_owned();
                    front.permissions.push(Permission {
                        function,
                        principal: text(&props["Principal"]),
                        source_arn: props.get("SourceArn").map(text),
                    });
                    r.refs.insert(id.clone(), json!(id));
                }
                "AWS::Logs::LogGroup" => {
                    let name = text(&props["LogGroupName"]);
                    if lock(&front.auto_log_groups).contains(&name) {
                        front.problem(format!(
                            "log group {name} ({id}) already exists: Lambda made it when the function ran before it was created"
                        ));
                    }
                    lock(&front.log_groups).insert(name.clone());
                    r.refs.insert(id.clone(), json!(name));
                    r.atts.insert(
                        format!("{id}.Arn"),
                        json!(format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*")),
                    );
                }
                "AWS::SecretsManager::RotationSchedule" => {
                    let rotation = text(&props["RotationLambdaARN"]);
                    let f = functions
                        .values()
                        .find(|f| f.arn == rotation)
                        .unwrap_or_else(|| panic!("{id}: no function {rotation}"))
                        .clone();
                    let allowed = front
                        .permissions
                        .iter()
                        .any(|p| p.function == f.name && p.principal == "secretsmanager.amazonaws.com");
                    assert!(allowed, "{id}: Secrets Manager may not invoke {}", f.name);
                    if props.get("RotateImmediatelyOnUpdate") != Some(&json!(false)) {
                        front.invoked(&f.name);
                        rotate_now(&f, &text(&props["SecretId"])).await;
                    }
                    r.refs.insert(id.clone(), json!(id));
                }
                "AWS::ApiGatewayV2::Stage" => {
                    // A route setting for a route that does not exist fails the deploy.
                    for key in props["RouteSettings"].as_object().into_iter().flatten().map(|(k, _)| k) {
                        let known = front
                            .routes
                            .iter()
                            .any(|rt| format!("{} {}", rt.method, rt.path) == *key);
                        assert!(known, "{id}: RouteSettings names {key:?}, which is not a route");
                    }
                    r.refs.insert(id.clone(), json!(text(&props["StageName"])));
                }
                "AWS::ApiGatewayV2::Api" => {
                    read_api(&props, &mut front, &functions);
                    r.refs.insert(id.clone(), json!(API_ID));
                    r.atts.insert(format!("{id}.ApiEndpoint"), json!(https_url));
                }
                "AWS::ApiGatewayV2::DomainName" => {
                    r.refs.insert(id.clone(), props["DomainName"].clone());
                    r.atts.insert(
                        format!("{id}.RegionalDomainName"),
                        json!(format!("d-rehearsal.execute-api.{REGION}.amazonaws.com")),
                    );
                    r.atts
                        .insert(format!("{id}.RegionalHostedZoneId"), json!("Z1UJRXOUMOOFQ8"));
                }
                _ => {
                    r.refs.insert(id.clone(), json!(format!("keygate-{id}")));
                    r.atts.insert(
                        format!("{id}.Arn"),
                        json!(format!("arn:aws:rehearsal:{REGION}:{ACCOUNT}:{id}")),
                    );
                }
            }
        }
        let front = Arc::new(front);
        let app = axum::Router::new().fallback(serve_api).with_state(front.clone());
        let tls = TlsListener {
            tcp: tls_tcp,
            acceptor: tls_acceptor(&cert, &key),
        };
        let app2 = app.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(http_listener, app).await;
        }));
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(tls, app2).await;
        }));
        Stack {
            template,
            resolver: r,
            http,
            https_url,
            functions,
            front,
            dir,
            tasks,
        }
    }

    /// A resolved output of the stack.
    pub fn output(&self, name: &str) -> String {
        text(
            &self
                .resolver
                .resolve(&self.template["Outputs"][name]["Value"])
                .expect("output"),
        )
    }

    /// Whether the stack created `logical_id` (its condition held).
    pub fn has(&self, logical_id: &str) -> bool {
        self.resolver.refs.contains_key(logical_id)
    }

    /// A resource's physical id (`Ref`).
    pub fn physical(&self, logical_id: &str) -> String {
        text(&self.resolver.reference(logical_id))
    }

    /// How often API Gateway called the authorizer (cached answers are not calls).
    pub fn authorizer_calls(&self) -> u64 {
        *lock(&self.front.authorizer_calls)
    }

    /// What went wrong in the stack's wiring (permissions, log groups, unknown settings).
    pub fn problems(&self) -> Vec<String> {
        lock(&self.front.problems).clone()
    }

    /// Every AWS call a function made that its IAM role does not allow.
    pub fn denied_calls(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.functions.values() {
            let policies = self
                .resolver
                .atts
                .get(&format!("{}.Policies", f.role))
                .cloned()
                .unwrap_or(Value::Null);
            for (op, body) in f.proxy.requests() {
                for (action, resource) in asked(&op, &body) {
                    if !allowed(&policies, &action, &resource) {
                        out.push(format!(
                            "{}: {action} on {resource} is not allowed by its role",
                            f.logical_id
                        ));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Every (function, action) seen, for the report.
    pub fn calls(&self) -> BTreeMap<String, Vec<String>> {
        self.functions
            .values()
            .map(|f| {
                let mut a: Vec<String> = f
                    .proxy
                    .requests()
                    .iter()
                    .flat_map(|(op, body)| asked(op, body).into_iter().map(|(a, _)| a))
                    .collect();
                a.sort();
                a.dedup();
                (f.logical_id.clone(), a)
            })
            .collect()
    }
}

fn conditions_used(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, a) in m {
                if k == "Condition" {
                    out.insert(text(a));
                } else {
                    conditions_used(a, out);
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| conditions_used(x, out)),
        _ => {}
    }
}

async fn create_table(sdk: &aws_config::SdkConfig, id: &str, props: &Value, r: &mut Resolver) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let name = crate::aws::unique_name("stack-table");
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut create = client.create_table().table_name(&name);
    for a in props["AttributeDefinitions"].as_array().expect("AttributeDefinitions") {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(text(&a["AttributeType"]).as_str()))
                .build()
                .expect("attribute"),
        );
    }
    for k in props["KeySchema"].as_array().expect("KeySchema") {
        create = create.key_schema(
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"]))
                .key_type(KeyType::from(text(&k["KeyType"]).as_str()))
                .build()
                .expect("key"),
        );
    }
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST", "{id}: on-demand billing");
    create
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(&ttl["AttributeName"]))
                    .enabled(ttl["Enabled"] == true || ttl["Enabled"] == "true")
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("TTL");
    }
    r.refs.insert(id.to_owned(), json!(name));
    r.atts.insert(
        format!("{id}.Arn"),
        json!(format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")),
    );
}

async fn create_secret(sdk: &aws_config::SdkConfig, id: &str, props: &Value, r: &mut Resolver) {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let name = crate::aws::unique_name("stack-secret");
    let value = match props.get("GenerateSecretString") {
        Some(g) => {
            // A random string, as GenerateSecretString leaves it: not a key.
            let len: usize = g
                .get("PasswordLength")
                .map(text)
                .unwrap_or("32".into())
                .parse()
                .expect("length");
            let mut bytes = vec![0u8; len];
            aws_lc_rs::rand::fill(&mut bytes).expect("random");
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            bytes
                .iter()
                .map(|b| alphabet[*b as usize % alphabet.len()] as char)
                .collect()
        }
        None => text(&props["SecretString"]),
    };
    let out = client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret");
    let arn = out.arn().expect("arn").to_owned();
    r.refs.insert(id.to_owned(), json!(arn));
    r.atts.insert(format!("{id}.Id"), json!(arn));
}

fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).expect("read the function binary");
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not an ELF binary", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

async fn start_function(id: &str, props: &Value, r: &Resolver, dir: &Path, ca: &Path) -> Function {
    let bin = function_for(id).unwrap_or_else(|| panic!("no binary for function {id}"));
    let path = binary(bin);
    assert_eq!(props["Runtime"], "provided.al2023", "{id}: runtime");
    assert_eq!(props["Handler"], "bootstrap", "{id}: handler");
    let arch = props["Architectures"][0].as_str().unwrap_or("x86_64");
    let machine = match arch {
        "x86_64" => 62,
        "arm64" => 183,
        other => panic!("{id}: unknown architecture {other}"),
    };
    assert_eq!(elf_machine(&path), machine, "{id}: the binary is not built for {arch}");
    let name = format!("keygate-{id}");
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
    let role_arn = text(&props["Role"]);
    let role = r
        .atts
        .iter()
        .find(|(k, v)| k.ends_with(".Arn") && text(v) == role_arn)
        .map(|(k, _)| k.trim_end_matches(".Arn").to_owned())
        .unwrap_or_else(|| panic!("{id}: role {role_arn} is not in the stack"));
    let proxy = AwsProxy::start().await;
    let memory = props.get("MemorySize").map(text).unwrap_or("128".into());
    let timeout = props.get("Timeout").map(text).unwrap_or("3".into());
    let mut env: Vec<(String, String)> = props["Environment"]["Variables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), text(v)))
        .collect();
    let logging = &props["LoggingConfig"];
    if logging["LogFormat"] == "JSON" {
        env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        if let Some(level) = logging.get("ApplicationLogLevel") {
            env.push(("AWS_LAMBDA_LOG_LEVEL".into(), text(level)));
        }
    }
    for (k, v) in [
        ("AWS_ENDPOINT_URL", proxy.url()),
        ("AWS_REGION", REGION.into()),
        ("AWS_DEFAULT_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout),
        ("SSL_CERT_FILE", ca.display().to_string()),
    ] {
        env.push((k.to_owned(), v));
    }
    let log = dir.join(format!("{id}.log"));
    let rie = Rie::start(&path, &env, Some(&log));
    Function {
        logical_id: id.to_owned(),
        name,
        arn,
        role,
        proxy,
        log,
        env,
        rie: Mutex::new(rie),
    }
}

/// What Secrets Manager does on `RotateImmediatelyOnUpdate`: the four steps, in order.
async fn rotate_now(f: &Arc<Function>, secret_arn: &str) {
    let token = "9b2f4d1e-6c3a-4e8f-a7b5-0d1c2e3f4a5b";
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let event =
            json!({"Step": step, "SecretId": secret_arn, "ClientRequestToken": token, "RotationToken": "rehearsal"});
        let f2 = f.clone();
        let out = tokio::task::spawn_blocking(move || f2.invoke(&event))
            .await
            .expect("invoke");
        assert!(
            out.get("errorType").is_none(),
            "rotation step {step} failed: {out}\n{}",
            f.logs()
        );
    }
}

fn read_api(props: &Value, front: &mut Front, functions: &HashMap<String, Arc<Function>>) {
    let by_uri = |uri: &str| -> String {
        functions
            .values()
            .find(|f| uri.contains(&format!("/functions/{}/invocations", f.arn)))
            .map(|f| f.logical_id.clone())
            .unwrap_or_else(|| panic!("no function for integration {uri}"))
    };
    let body = &props["Body"];
    for (name, scheme) in body["components"]["securitySchemes"].as_object().into_iter().flatten() {
        let a = &scheme["x-amazon-apigateway-authorizer"];
        let identity = match &a["identitySource"] {
            Value::Array(xs) => xs.iter().map(text).collect(),
            Value::String(s) => s.split(',').map(|x| x.trim().to_owned()).collect(),
            _ => Vec::new(),
        };
        front.authorizers.insert(
            name.clone(),
            AuthorizerSpec {
                function: by_uri(&text(&a["authorizerUri"])),
                identity,
                ttl: a
                    .get("authorizerResultTtlInSeconds")
                    .map(text)
                    .unwrap_or("0".into())
                    .parse()
                    .unwrap_or(0),
                simple: a["enableSimpleResponses"] == true,
                payload: a
                    .get("authorizerPayloadFormatVersion")
                    .map(text)
                    .unwrap_or("1.0".into()),
            },
        );
    }
    for (path, ops) in body["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let Some(integration) = op.get("x-amazon-apigateway-integration") else {
                continue;
            };
            let method = if method == "x-amazon-apigateway-any-method" {
                "ANY".to_owned()
            } else {
                method.to_ascii_uppercase()
            };
            let authorizer = op
                .get("security")
                .or_else(|| body.get("security"))
                .and_then(|s| s.as_array())
                .and_then(|s| s.first())
                .and_then(|s| s.as_object())
                .and_then(|s| s.keys().next().cloned())
                .filter(|n| n != "NONE");
            front.routes.push(Route {
                method,
                path: path.clone(),
                function: by_uri(&text(&integration["uri"])),
                payload: integration
                    .get("payloadFormatVersion")
                    .map(text)
                    .unwrap_or("2.0".into()),
                authorizer,
            });
        }
    }
}

/// The IAM actions and resources an AWS request asks for.
pub fn asked(op: &str, body: &[u8]) -> Vec<(String, String)> {
    let j: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let table = |v: &Value| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}", text(v));
    if let Some(x) = op.strip_prefix("DynamoDB_20120810.") {
        return match x {
            "BatchGetItem" | "BatchWriteItem" => j["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(t, _)| (format!("dynamodb:{x}"), table(&json!(t))))
                .collect(),
            "TransactWriteItems" | "TransactGetItems" => j["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|item| item.as_object().into_iter().flatten())
                .map(|(kind, v)| {
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        other => panic!("unknown transaction item {other}"),
                    };
                    (format!("dynamodb:{action}"), table(&v["TableName"]))
                })
                .collect(),
            _ => vec![(format!("dynamodb:{x}"), table(&j["TableName"]))],
        };
    }
    if let Some(x) = op.strip_prefix("secretsmanager.") {
        return vec![(format!("secretsmanager:{x}"), text(&j["SecretId"]))];
    }
    if op == "POST /v2/email/outbound-emails" {
        let from = j["FromEmailAddress"].as_str().unwrap_or("");
        return vec![(
            "ses:SendEmail".into(),
            format!("arn:aws:ses:{REGION}:{ACCOUNT}:identity/{from}"),
        )];
    }
    vec![(format!("unknown:{op}"), "*".into())]
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(xs) => xs.iter().map(text).collect(),
        Value::Null => Vec::new(),
        other => vec![text(other)],
    }
}

/// Whether the role's inline policies allow `action` on `resource` (an explicit Deny wins).
pub fn allowed(policies: &Value, action: &str, resource: &str) -> bool {
    let mut allow = false;
    for p in policies.as_array().into_iter().flatten() {
        let statements = match &p["PolicyDocument"]["Statement"] {
            Value::Array(s) => s.clone(),
            s => vec![s.clone()],
        };
        for s in statements {
            let acts = as_list(&s["Action"]);
            let res = as_list(&s["Resource"]);
            let hit = acts
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && res.iter().any(|r| glob(r, resource));
            match (hit, s["Effect"].as_str()) {
                (true, Some("Deny")) => return false,
                (true, Some("Allow")) => allow = true,
                _ => {}
            }
        }
    }
    allow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_iam_does() {
        assert!(glob(
            "arn:aws:dynamodb:*:table/t",
            "arn:aws:dynamodb:us-east-1:1:table/t"
        ));
        assert!(!glob(
            "arn:aws:dynamodb:*:table/t",
            "arn:aws:dynamodb:us-east-1:1:table/t2"
        ));
        assert!(glob("*", "anything"));
        assert!(glob(
            "dynamodb:*Item",
            "dynamodb:putitem".replace("putitem", "PutItem").as_str()
        ));
    }

    #[test]
    fn route_templates_match_whole_segments() {
        assert!(template_matches("/admin/{proxy+}", "/admin/users/ann"));
        assert!(!template_matches("/admin/{proxy+}", "/admin"));
        assert!(!template_matches("/admin/{proxy+}", "/administrator/x"));
        assert!(template_matches("/auth/share/{id}", "/auth/share/abc"));
        assert!(!template_matches("/auth/share/{id}", "/auth/share/abc/d"));
    }

    #[test]
    fn policies_allow_only_named_actions_on_named_resources() {
        let p = json!([{"PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "arn:t"},
            {"Effect": "Allow", "Action": "ses:SendEmail", "Resource": "*"}]}}]);
        assert!(allowed(&p, "dynamodb:GetItem", "arn:t"));
        assert!(!allowed(&p, "dynamodb:PutItem", "arn:t"));
        assert!(!allowed(&p, "dynamodb:GetItem", "arn:other"));
        assert!(allowed(&p, "ses:SendEmail", "arn:aws:ses:x"));
    }

    #[test]
    fn transactions_ask_per_item() {
        let body = br#"{"TransactItems":[{"Put":{"TableName":"t"}},{"ConditionCheck":{"TableName":"t"}}]}"#;
        let asked = asked("DynamoDB_20120810.TransactWriteItems", body);
        assert_eq!(asked.len(), 2);
        assert_eq!(asked[1].0, "dynamodb:ConditionCheckItem");
    }
}
