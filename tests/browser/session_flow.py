"""Drives examples/browser-app in headless Chromium (Selenium) against a running keygate.

Run by tests/tests/browser.rs, which starts keygate and the static servers:

    session_flow.py --keygate URL --allowed URL --forbidden URL --username U --password P
        [--short-ttl-keygate URL] --chromium PATH --chromedriver PATH

`--allowed` serves the app from an origin keygate lists in KEYGATE_CORS_ORIGINS, `--forbidden`
the same files from one it does not list. `--short-ttl-keygate` is a second keygate whose access
tokens live a few seconds (the scheduled refresh). Prints one `<step>: ok` line per step passed;
exits non-zero at the first failure, with what the page showed.

Nothing here downloads anything: the browser and driver are the given paths (Selenium Manager is
never asked), and Chromium's background services are switched off.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

os.environ["SE_OFFLINE"] = "true"  # belt and braces: Selenium Manager must not fetch anything

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

COOKIE = "__Host-keygate-session"
WAIT = 20  # seconds for any one thing the page does


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def step(name):
    print(f"{name}: ok", flush=True)


def start_browser(chromium, chromedriver, profile):
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    for a in [
        "--headless=new",
        # CI runs as root in a container: Chromium's sandbox needs user namespaces it lacks there.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        # Loopback only, and no calls home.
        "--no-proxy-server",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--metrics-recording-only",
        # No Secure-cookie workaround: Chromium counts http://127.0.0.1 (and localhost) as a
        # potentially trustworthy origin, so it stores and sends keygate's `__Host-` Secure
        # cookie over plain http there. The "cookie stored" step checks this; were it not so,
        # `--unsafely-treat-insecure-origin-as-secure=<keygate origin>` would be the fix.
    ]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=o)


class Page:
    """The app in one browser tab."""

    def __init__(self, driver, handle):
        self.d = driver
        self.handle = handle

    def focus(self):
        self.d.switch_to.window(self.handle)

    def text(self, id_):
        return self.d.find_element(By.ID, id_).text

    def texts(self):
        ids = ["status", "subject", "roles", "protected", "calls", "refresh-count", "retries", "error"]
        return {i: self.text(i) for i in ids}

    def count(self, id_):
        return int(self.text(id_) or "0")

    def click(self, id_):
        self.d.find_element(By.ID, id_).click()

    def wait(self, cond, what, timeout=WAIT):
        try:
            WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda _: cond())
        except TimeoutException:
            raise Failed(f"timed out waiting for {what}; the page shows {self.texts()}") from None

    def login(self, username, password):
        calls = self.count("calls")
        self.d.find_element(By.ID, "username").clear()
        self.d.find_element(By.ID, "username").send_keys(username)
        self.d.find_element(By.ID, "password").send_keys(password)
        self.click("login")
        return calls

    def call_protected(self):
        """Clicks the protected call and waits until it finished; returns #protected."""
        calls = self.count("calls")
        self.click("call")
        self.wait(lambda: self.count("calls") > calls, "the protected call to finish")
        return self.text("protected")

    def fetch(self, url, init):
        """fetch() in the page: {"status", "body"} or {"rejected": message}."""
        return self.d.execute_async_script(
            """
            const [url, init, done] = arguments;
            fetch(url, init)
              .then(async (r) => done({status: r.status, body: await r.text()}))
              .catch((e) => done({rejected: String(e)}));
            """,
            url,
            init,
        )


def session_cookies(driver):
    """Every keygate session cookie in the browser's jar, HttpOnly ones included (DevTools)."""
    jar = driver.execute_cdp_cmd("Storage.getCookies", {})["cookies"]
    return [c for c in jar if c["name"] == COOKIE]


def one_session_cookie(driver):
    found = session_cookies(driver)
    check(len(found) == 1, f"one {COOKIE} cookie in the jar, found {found}")
    return found[0]


def post_json(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def storage_is_empty(page):
    return page.d.execute_script("return localStorage.length === 0 && sessionStorage.length === 0")


def main_flow(a, driver):
    keygate, allowed, forbidden = a.keygate, a.allowed, a.forbidden
    driver.get(f"{allowed}/index.html?keygate={keygate}")
    app = Page(driver, driver.current_window_handle)
    check(app.text("keygate-url") == keygate, f"the app is configured with {keygate}: {app.texts()}")
    check(app.text("status") == "logged out", f"logged out at first: {app.texts()}")
    check(session_cookies(driver) == [], "no session cookie before login")
    step("page loads from the allowed origin")

    calls = app.login(a.username, a.password)
    app.wait(lambda: app.count("calls") > calls, "login and the first protected call")
    t = app.texts()
    check(t["status"] == "logged in", f"logged in: {t}")
    check(t["protected"] == "ok" and t["error"] == "", f"the protected call succeeded: {t}")
    check(t["subject"] == a.username, f"validate names the user: {t}")
    step("login, then the protected endpoint answers 200")

    c = one_session_cookie(driver)
    check(c["secure"] and c["httpOnly"], f"Secure and HttpOnly: {c}")
    check(c["sameSite"] == "Strict" and c["path"] == "/" and c["domain"] == "127.0.0.1", f"attributes: {c}")
    check(c["value"] != "", "a value")
    step("the __Host- Secure cookie is stored over http://127.0.0.1")

    check(COOKIE not in app.d.execute_script("return document.cookie"), "document.cookie hides the session")
    check(c["value"] not in app.d.page_source, "the refresh token is nowhere in the page")
    check(storage_is_empty(app), "nothing in localStorage or sessionStorage")
    step("HttpOnly: document.cookie does not show the session; web storage is empty")

    before, refreshes = c["value"], app.count("refresh-count")
    app.click("refresh")
    app.wait(lambda: app.count("refresh-count") > refreshes, "the forced refresh")
    check(app.text("status") == "logged in" and app.text("error") == "", f"still logged in: {app.texts()}")
    rotated = one_session_cookie(driver)["value"]
    check(rotated != before, "the refresh rotated the cookie (so the browser sent the Secure cookie)")
    check(app.call_protected() == "ok", f"the new access token works: {app.texts()}")
    step("silent refresh: new access token, the cookie rotated")

    retries, refreshes = app.count("retries"), app.count("refresh-count")
    app.click("forget")
    check(app.call_protected() == "ok", f"the call succeeded after a refresh: {app.texts()}")
    check(app.count("retries") == retries + 1, f"the call met a 401 and was retried once: {app.texts()}")
    check(app.count("refresh-count") == refreshes + 1, f"one refresh: {app.texts()}")
    check(one_session_cookie(driver)["value"] != rotated, "that refresh rotated the cookie too")
    step("a 401 refreshes and retries once")

    refresh_url = f"{keygate}/auth/session/refresh"
    for headers in [{}, {"X-CSRF-Token": "not-the-token"}]:
        r = app.fetch(refresh_url, {"method": "POST", "credentials": "include", "headers": headers})
        check(r.get("status") == 403, f"refresh with headers {headers} from the allowed origin: 403, got {r}")
        check(json.loads(r["body"]).get("error") == "invalid_csrf", f"invalid_csrf: {r}")
    refreshes = app.count("refresh-count")
    app.click("refresh")
    app.wait(lambda: app.count("refresh-count") > refreshes, "a refresh after the refused ones")
    check(app.text("status") == "logged in", f"the refused calls changed nothing: {app.texts()}")
    step("without the right X-CSRF-Token: 403 invalid_csrf, and the session lives on")

    # The forbidden origin, in another tab of the same browser while the session is alive (the
    # cookie belongs to host 127.0.0.1, whatever the port, and is same-site there).
    live = one_session_cookie(driver)["value"]
    driver.switch_to.new_window("tab")
    driver.get(f"{forbidden}/index.html?keygate={keygate}")
    evil = Page(driver, driver.current_window_handle)
    check(evil.text("keygate-url") == keygate, f"the app loaded from the forbidden origin: {evil.texts()}")
    check(COOKIE not in evil.d.execute_script("return document.cookie"), "no cookie to read there")
    errors = evil.text("error")
    evil.login(a.username, a.password)
    evil.wait(lambda: evil.text("error") != errors, "the login from the forbidden origin to fail")
    t = evil.texts()
    check(t["status"] == "logged out", f"not logged in from the forbidden origin: {t}")
    check("network error" in t["error"], f"the browser withheld keygate's answer: {t}")
    check(t["subject"] == "" and t["protected"] == "", f"nothing shown: {t}")
    step("forbidden origin: login fails, the browser blocks the answer")

    probes = {
        "simple POST /auth/session/refresh with the cookie": (
            refresh_url, {"method": "POST", "credentials": "include"}),
        "POST /auth/session/refresh with X-CSRF-Token": (
            refresh_url, {"method": "POST", "credentials": "include", "headers": {"X-CSRF-Token": "x"}}),
        "POST /auth/session": (f"{keygate}/auth/session", {
            "method": "POST", "credentials": "include", "headers": {"content-type": "application/json"},
            "body": json.dumps({"grant_type": "password", "username": a.username, "password": a.password})}),
        "GET /auth/validate": (f"{keygate}/auth/validate", {"credentials": "include"}),
    }
    for what, (url, init) in probes.items():
        r = evil.fetch(url, init)
        check("rejected" in r, f"forbidden origin, {what}: the browser must withhold the answer, got {r}")
    check(one_session_cookie(driver)["value"] == live, "nothing from the forbidden origin touched the session")
    check(storage_is_empty(evil), "web storage empty there too")
    step("forbidden origin: nothing is readable, the session is untouched")
    driver.close()

    app.focus()
    check(app.call_protected() == "ok", f"the allowed tab still works: {app.texts()}")
    refreshes = app.count("refresh-count")
    app.click("refresh")
    app.wait(lambda: app.count("refresh-count") > refreshes, "a refresh back on the allowed tab")
    last = one_session_cookie(driver)["value"]
    step("back on the allowed origin: still logged in")

    app.click("logout")
    app.wait(lambda: app.text("status") == "logged out", "logout")
    check(app.text("error") == "", f"logout answered 204: {app.texts()}")
    check(session_cookies(driver) == [], "logout cleared the cookie")
    step("logout clears the cookie")

    errors = app.text("error")
    app.click("refresh")
    app.wait(lambda: app.text("error") != errors, "the refresh after logout to fail")
    t = app.texts()
    check(t["status"] == "logged out", f"still logged out: {t}")
    check("401 invalid_grant" in t["error"], f"keygate refused: no session cookie: {t}")
    check(app.call_protected() != "ok", f"no protected call without a login: {app.texts()}")
    # The refresh token the cookie held last is revoked (not only forgotten by the browser).
    status, body = post_json(f"{keygate}/auth/refresh", {"refresh_token": last})
    check((status, (body or {}).get("error")) == (401, "invalid_grant"), f"revoked: {status} {body}")
    step("after logout, refresh fails and the session is revoked")


def scheduled_refresh(a, driver):
    """Access tokens living a few seconds: the app refreshes on its own, before they expire."""
    keygate = a.short_ttl_keygate
    driver.get(f"{a.allowed}/index.html?keygate={keygate}")
    app = Page(driver, driver.current_window_handle)
    calls = app.login(a.username, a.password)
    app.wait(lambda: app.count("calls") > calls, "login")
    check(app.text("protected") == "ok", f"logged in: {app.texts()}")
    first = one_session_cookie(driver)["value"]
    app.wait(lambda: app.count("refresh-count") >= 2, "two refreshes nobody asked for")
    check(one_session_cookie(driver)["value"] != first, "the timer's refreshes rotated the cookie")
    check(app.call_protected() == "ok", f"the protected call works: {app.texts()}")
    check(app.count("retries") == 0, f"no call met an expired token: {app.texts()}")
    app.click("logout")
    app.wait(lambda: app.text("status") == "logged out", "logout")
    check(session_cookies(driver) == [], "logout cleared the cookie")
    step("scheduled refresh before expiry")


def main():
    p = argparse.ArgumentParser()
    for name in ["keygate", "allowed", "forbidden", "username", "password", "chromium", "chromedriver"]:
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--short-ttl-keygate")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="keygate-chromium-") as profile:
        driver = start_browser(a.chromium, a.chromedriver, profile)
        driver.set_script_timeout(WAIT)
        driver.set_page_load_timeout(WAIT)
        try:
            main_flow(a, driver)
            if a.short_ttl_keygate:
                scheduled_refresh(a, driver)
        except Failed as e:
            print(f"FAILED: {e}", flush=True)
            for entry in driver.get_log("browser"):
                print(f"console: {entry}", flush=True)
            return 1
        finally:
            driver.quit()
    print("all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
