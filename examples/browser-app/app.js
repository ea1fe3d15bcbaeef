// A single-page app using keygate's browser sessions (`/auth/session*`).
//
// - The refresh token lives only in keygate's `__Host-keygate-session` cookie (HttpOnly: this
//   script never sees it). Every call to keygate's session routes sends it with
//   `credentials: "include"`.
// - The access token and the CSRF token live only in this closure's variables: never in
//   localStorage, sessionStorage, a cookie or the DOM. Reloading the page ends the login.
// - The access token is refreshed before it expires, and on a 401 (then the call is retried
//   once). Only one refresh runs at a time: the refresh token rotates, and presenting a spent one
//   makes keygate revoke the whole session.
//
// keygate's base URL comes from `?keygate=URL` (default http://127.0.0.1:3000, what
// `keygate serve` listens on). keygate must list this page's origin in KEYGATE_CORS_ORIGINS.
"use strict";

(() => {
  const params = new URLSearchParams(window.location.search);
  const KEYGATE = (params.get("keygate") || "http://127.0.0.1:3000").replace(/\/+$/, "");

  // Refresh this many seconds before the access token expires (at most half its lifetime).
  const REFRESH_MARGIN_SECONDS = 60;

  let accessToken = null;
  let csrfToken = null;
  let expiresAt = 0; // ms since the epoch
  let refreshTimer = null;
  let refreshing = null; // the refresh in flight, a Promise<boolean>
  let refreshCount = 0;
  let callCount = 0; // protected calls finished
  let retryCount = 0; // protected calls retried after a 401 and a refresh

  const $ = (id) => document.getElementById(id);
  const show = (id, text) => {
    $(id).textContent = text;
  };

  function setStatus(text) {
    show("status", text);
  }

  function setError(text) {
    show("error", text || "");
  }

  // What went wrong with a call, for #error. A fetch that rejects never reached us: keygate is
  // unreachable, or the browser withheld the answer (CORS: this origin is not allowed).
  async function describe(what, responseOrError) {
    if (responseOrError instanceof Response) {
      let code = "";
      try {
        code = (await responseOrError.json()).error || "";
      } catch (_) {
        // not JSON
      }
      return `${what} failed: ${responseOrError.status}${code ? " " + code : ""}`;
    }
    return `${what} failed: network error (keygate unreachable, or this origin is not allowed by CORS): ${responseOrError}`;
  }

  function forgetSession() {
    accessToken = null;
    csrfToken = null;
    expiresAt = 0;
    if (refreshTimer !== null) {
      clearTimeout(refreshTimer);
      refreshTimer = null;
    }
    show("subject", "");
    show("roles", "");
    show("expires-at", "");
    setStatus("logged out");
  }

  // Takes a `/auth/session` or `/auth/session/refresh` answer's body.
  function adopt(body) {
    accessToken = body.access_token;
    csrfToken = body.csrf_token;
    const lifetime = Number(body.expires_in) || 0;
    expiresAt = Date.now() + lifetime * 1000;
    show("expires-at", new Date(expiresAt).toISOString());
    const margin = Math.min(REFRESH_MARGIN_SECONDS, lifetime / 2);
    if (refreshTimer !== null) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refresh();
    }, Math.max(1, lifetime - margin) * 1000);
    setStatus("logged in");
  }

  // POSTs to one of keygate's session routes, with the session cookie and the CSRF token.
  function sessionCall(path, init = {}) {
    const headers = new Headers(init.headers || {});
    if (csrfToken) headers.set("X-CSRF-Token", csrfToken);
    return fetch(KEYGATE + path, {
      ...init,
      method: "POST",
      headers,
      credentials: "include",
      cache: "no-store",
    });
  }

  async function login(username, password) {
    setError("");
    setStatus("logging in");
    let response;
    try {
      response = await sessionCall("/auth/session", {
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ grant_type: "password", username, password }),
      });
    } catch (e) {
      forgetSession();
      setError(await describe("login", e));
      return false;
    }
    if (!response.ok) {
      forgetSession();
      setError(await describe("login", response));
      return false;
    }
    adopt(await response.json());
    await callProtected();
    return true;
  }

  // Rotates the session: a new access token, and keygate sets a new cookie. Concurrent callers
  // share one request. Resolves to whether the session is still alive.
  function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      let response;
      try {
        response = await sessionCall("/auth/session/refresh");
      } catch (e) {
        // Unreachable: keep the session; a later call or timer tries again.
        setError(await describe("refresh", e));
        return false;
      }
      if (!response.ok) {
        forgetSession();
        setError(await describe("refresh", response));
        return false;
      }
      adopt(await response.json());
      refreshCount += 1;
      show("refresh-count", String(refreshCount));
      return true;
    })()
      .catch((e) => {
        setError(`refresh failed: ${e}`);
        return false;
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  // A call to an API that takes keygate's access tokens. On 401: refresh, then retry once.
  async function api(url, init = {}) {
    const attempt = () => {
      const headers = new Headers(init.headers || {});
      if (accessToken) headers.set("Authorization", "Bearer " + accessToken);
      return fetch(url, { ...init, headers, cache: "no-store" });
    };
    let response = await attempt();
    if (response.status === 401 && (await refresh())) {
      retryCount += 1;
      show("retries", String(retryCount));
      response = await attempt();
    }
    return response;
  }

  // keygate's own `GET /auth/validate` stands in for the app's API here.
  async function callProtected() {
    const finished = () => {
      callCount += 1;
      show("calls", String(callCount));
    };
    let response;
    try {
      response = await api(KEYGATE + "/auth/validate");
    } catch (e) {
      show("protected", "error");
      setError(await describe("protected call", e));
      finished();
      return false;
    }
    if (!response.ok) {
      show("protected", `denied (${response.status})`);
      setError(await describe("protected call", response));
      finished();
      return false;
    }
    const claims = await response.json();
    show("protected", "ok");
    show("subject", claims.username || claims.sub || "");
    show("roles", (claims.roles || []).join(","));
    setError("");
    finished();
    return true;
  }

  async function logout() {
    // A refresh in flight would set a new cookie after the logout cleared it.
    if (refreshing) await refreshing;
    let outcome = "";
    try {
      const response = await sessionCall("/auth/session/logout");
      if (response.status !== 204) outcome = await describe("logout", response);
    } catch (e) {
      outcome = await describe("logout", e);
    }
    forgetSession();
    show("protected", "");
    setError(outcome);
    return outcome === "";
  }

  // Demo: the next call meets a 401 as if the access token had expired.
  function spoilAccessToken() {
    if (accessToken) accessToken = "spoiled." + accessToken.split(".").slice(1).join(".");
  }

  // Refresh at once when a hidden tab (whose timers the browser slowed down) comes back late.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && csrfToken && Date.now() > expiresAt - 5000) {
      refresh();
    }
  });

  show("keygate-url", KEYGATE);
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    login($("username").value, $("password").value);
    $("password").value = "";
  });
  $("call").addEventListener("click", () => callProtected());
  $("refresh").addEventListener("click", async () => {
    if (await refresh()) setError("");
  });
  $("forget").addEventListener("click", () => spoilAccessToken());
  $("logout").addEventListener("click", () => logout());
})();
