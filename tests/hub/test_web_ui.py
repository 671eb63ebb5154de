"""berth-hub's web UI (src/hub/ui, served by WebUi) driven in a real headless
Chromium through chromedriver: sign in and out, sign up, search, the
repository page (tag, digest, size, platform, pull command, layers) and the
admin settings (visibility, README, collaborators, webhooks, automated
builds), against a berth-hub with accounts. The README test feeds the UI
markup and scripts and asserts they stay text.

    BERTH_BUILD_DIR=<build> /usr/bin/python3 -m pytest tests/hub/test_web_ui.py

Needs Debian's chromium, chromium-driver and python3-selenium
(scripts/packages.txt).
"""
import itertools
import json
import shutil
import subprocess

import pytest
import requests

from registry_client import RegistryClient, oci_image
from registry_server import Hub, create_hub_user, hub_api

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ALICE = ("alice", "alice-password")
REPO = "alice/webapp"
# History gives each layer the instruction the UI shows; architecture/os its platform.
CONFIG = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": []},
    "history": [
        {"created_by": "/bin/sh -c #(nop) ADD file:rootfs in / "},
        {"created_by": "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", "empty_layer": True},
        {"created_by": "RUN /bin/sh -c echo hello > /greeting # buildkit"},
    ],
}).encode()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webui")
    (tmp / "root").mkdir()
    create_hub_user(tmp, *ALICE)
    create_hub_user(tmp, "bob", "bob-password")
    # As AuthHub, plus a berthd that is never there: automated builds fail
    # fast and deterministically even on a host running a real berthd.
    h = Hub(tmp, "--allow-signup", "--berthd", f"unix://{tmp}/no-berthd.sock", "--build-local-sources")
    assert hub_api(h, "POST", "/api/v1/orgs", *ALICE, {"name": "acme"})[0] == 201
    img = oci_image(layers=2, layer_size=1500, config=CONFIG)
    alice = RegistryClient(f"http://{h.host}", *ALICE)
    img.push(alice, REPO, "1.0")
    assert hub_api(h, "POST", "/api/v1/orgs/acme/teams", *ALICE, {"name": "devs"})[0] == 201
    oci_image().push(alice, "acme/tools", "latest")
    h.image = img
    h.tmp = tmp
    yield h
    h.stop()


@pytest.fixture(scope="module")
def browser(hub):
    chromium = shutil.which("chromium")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.fail("chromium and chromium-driver are required (scripts/packages.txt)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations and script errors
    d = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
    d.set_page_load_timeout(20)
    # The copy buttons use the async clipboard; let the page write and read it.
    d.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": f"http://{hub.host}", "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    yield d
    d.quit()


def wait(browser, cond, timeout=10, what="condition"):
    def safe(_):
        try:
            return cond()
        except StaleElementReferenceException:
            return False  # the app re-rendered mid-check: try again
    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(safe, f"timed out waiting for {what}")


def find(browser, css, timeout=10):
    return wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, css), timeout, css)


def text_of(browser, css):
    return wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, css).text.strip() or None, 10, f"text of {css}")


_loads = itertools.count()


def go(browser, hub, hash_route):
    """A fresh page load of the route (a new query string each time, so it
    is never just a hash change on the old page), waiting until the app has
    rendered it."""
    browser.get(f"http://{hub.host}/?load={next(_loads)}{hash_route}")
    wait(browser, lambda: browser.execute_script("return document.body.dataset.route") == hash_route,
         what=f"route {hash_route}")


def toast_says(browser, words):
    wait(browser, lambda: words in browser.find_element(By.ID, "toast").text, what=f"toast {words!r}")


def sign_in(browser, hub, user, password):
    go(browser, hub, "#/login")
    find(browser, "#login-username").send_keys(user)
    find(browser, "#login-password").send_keys(password)
    find(browser, "#login-form button[type=submit]").click()
    wait(browser, lambda: browser.find_element(By.ID, "nav-username").text == user, what="signed in")


def sign_out(browser):
    find(browser, "#sign-out").click()
    find(browser, "#nav-sign-in")


def listed_repos(browser):
    find(browser, "#repo-list, #no-results")
    return [li.get_attribute("data-repo") for li in browser.find_elements(By.CSS_SELECTOR, "#repo-list li")]


def search(browser, q):
    box = find(browser, "#search-input")
    box.clear()
    box.send_keys(q + "\n")
    wait(browser, lambda: browser.execute_script("return location.hash") == f"#/search?q={q}")
    wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, "main h1").text.find(q) >= 0, what="results")
    return listed_repos(browser)


def test_assets_are_served_with_a_strict_policy(hub):
    base = f"http://{hub.host}"
    r = requests.get(base + "/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<script src="/ui/app.js" defer></script>' in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    for path, ctype in (("/ui/app.js", "text/javascript; charset=utf-8"), ("/ui/style.css", "text/css; charset=utf-8")):
        r = requests.get(base + path, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == ctype
        assert r.headers["Cache-Control"] == "no-cache" and r.headers["Content-Security-Policy"] == csp
        # Revalidation: the same ETag answers 304 with no body.
        r2 = requests.get(base + path, headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
        assert r2.status_code == 304 and r2.content == b""
    assert requests.get(base + "/ui/missing.js", timeout=10).status_code == 404
    assert requests.post(base + "/", timeout=10).status_code == 405
    # The registry and API are untouched by the UI's routes.
    assert requests.get(base + "/v2/", timeout=10).status_code == 401


def test_browse_sign_in_search_and_repository_page(browser, hub):
    go(browser, hub, "#/")
    assert REPO in listed_repos(browser)  # public: anonymous visitors see it
    find(browser, "#nav-sign-in")

    sign_in(browser, hub, *ALICE)
    assert search(browser, "webapp") == [REPO]
    assert search(browser, "no-such-thing") == []
    search(browser, "webapp")
    find(browser, f'#repo-list li[data-repo="{REPO}"] a.repo-name').click()
    assert text_of(browser, "#repo-title") == REPO
    assert text_of(browser, ".pull-command") == f"docker pull {hub.host}/{REPO}"

    find(browser, "#tab-tags").click()
    row = find(browser, '#tags-table tr[data-tag="1.0"]')
    digest = hub.image.digest
    d = row.find_element(By.CSS_SELECTOR, ".tag-digest .digest")
    assert d.text == digest[:7 + 12] and d.get_attribute("title") == digest  # short, full on hover
    assert row.find_element(By.CSS_SELECTOR, ".tag-platform").text == "linux/amd64"
    assert row.find_element(By.CSS_SELECTOR, ".tag-size").text == "3.00 kB"  # two 1500-byte layers
    pushed = row.find_element(By.CSS_SELECTOR, ".tag-pushed").text
    assert pushed == "just now" or pushed.endswith(" seconds ago"), pushed  # relative
    pull = f"docker pull {hub.host}/{REPO}:1.0"
    assert row.find_element(By.CSS_SELECTOR, ".tag-pull .pull-command").text == pull
    button = row.find_element(By.CSS_SELECTOR, ".tag-pull button.copy")
    button.click()
    wait(browser, lambda: button.text in ("Copied!", "Copy failed"), what="copy feedback")
    assert button.text == "Copied!"
    assert browser.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], (e) => arguments[0]('ERR ' + e))") == pull

    row.find_element(By.CSS_SELECTOR, ".tag-name a").click()
    assert text_of(browser, "#tag-full-digest") == digest
    find(browser, "table.layers")
    layers = [(tr.find_element(By.CSS_SELECTOR, ".layer-instruction").text,
               tr.find_element(By.CSS_SELECTOR, ".layer-size").text)
              for tr in browser.find_elements(By.CSS_SELECTOR, "table.layers tr.layer")]
    # The empty CMD layer has no blob: instructions pair with real layers only.
    assert layers == [("/bin/sh -c #(nop) ADD file:rootfs in /", "1.50 kB"),
                      ("RUN /bin/sh -c echo hello > /greeting # buildkit", "1.50 kB")]
    assert browser.find_element(By.ID, "tag-detail").text.find("linux/amd64") >= 0


XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
README = ("# Web app\n\nRun it with `docker run webapp` and read [the docs](https://example.com/docs).\n\n"
          "```\nmake && ./serve\n```\n\n" + XSS + "\n\n[bad](javascript:window.__xss=3)\n")


def test_settings_readme_renders_markup_as_text(browser, hub):
    go(browser, hub, f"#/r/{REPO}/-/settings")
    desc = find(browser, "#edit-description")
    desc.clear()
    desc.send_keys(XSS)
    full = find(browser, "#edit-full-description")
    full.clear()
    browser.execute_script("arguments[0].value = arguments[1]", full, README)  # send_keys is slow for long text
    find(browser, "#save-description").click()
    toast_says(browser, "Description saved")
    status, body = hub_api(hub, "GET", f"/api/v1/repositories/{REPO}", *ALICE)
    assert body["description"] == XSS and body["full_description"] == README

    find(browser, "#tab-overview").click()
    readme = find(browser, "#readme .readme")
    assert text_of(browser, "#repo-description") == XSS  # the markup, shown as text
    assert readme.find_element(By.CSS_SELECTOR, "h2").text == "Web app"
    assert readme.find_element(By.CSS_SELECTOR, "p code").text == "docker run webapp"
    assert readme.find_element(By.CSS_SELECTOR, "pre code").text == "make && ./serve"
    links = readme.find_elements(By.CSS_SELECTOR, "a")
    assert [(a.text, a.get_attribute("href")) for a in links] == [("the docs", "https://example.com/docs")]
    assert XSS in readme.text and "[bad](javascript:window.__xss=3)" in readme.text
    # Nothing from the data became an element or ran.
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert browser.execute_script("return window.__xss === undefined")
    # Also on the search results.
    search(browser, "webapp")
    assert browser.find_element(By.CSS_SELECTOR, "#repo-list .repo-description").text == XSS
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert browser.execute_script("return window.__xss === undefined")


def test_settings_collaborators(browser, hub):
    go(browser, hub, f"#/r/{REPO}/-/settings")
    find(browser, "#no-collaborators")
    find(browser, "#collaborator-name").send_keys("bob")
    browser.find_element(By.CSS_SELECTOR, "#collaborator-permission option[value=write]").click()
    find(browser, "#add-collaborator").click()
    row = find(browser, '#collaborators-table tr[data-collaborator="bob"]')
    assert row.find_element(By.CSS_SELECTOR, ".collaborator-permission").get_attribute("data-permission") == "write"
    status, body = hub_api(hub, "GET", f"/api/v1/repositories/{REPO}/collaborators", *ALICE)
    assert body["collaborators"] == [{"name": "bob", "permission": "write"}]
    # A user that does not exist: the API's message, nothing added.
    find(browser, "#collaborator-name").send_keys("nobody")
    find(browser, "#add-collaborator").click()
    toast_says(browser, "no user nobody")


def test_settings_teams_for_organization_repositories(browser, hub):
    go(browser, hub, "#/r/acme/tools/-/settings")
    find(browser, "#team-name option[value=devs]").click()
    find(browser, "#team-permission option[value=write]").click()
    find(browser, "#add-team").click()
    row = find(browser, '#collaborators-table tr[data-collaborator="devs"][data-kind="team"]')
    assert row.find_element(By.CSS_SELECTOR, ".collaborator-permission").get_attribute("data-permission") == "write"
    assert hub_api(hub, "GET", "/api/v1/repositories/acme/tools/collaborators", *ALICE)[1]["teams"] == [
        {"name": "devs", "permission": "write"}]
    # A user's namespace has no teams: no team form there.
    go(browser, hub, f"#/r/{REPO}/-/settings")
    find(browser, "#add-collaborator")
    assert browser.find_elements(By.ID, "add-team") == []


def webhooks_available(hub):
    return hub_api(hub, "GET", f"/api/v1/repositories/{REPO}/webhooks", *ALICE)[0] == 200


def builds_available(hub):
    return hub_api(hub, "GET", f"/api/v1/repositories/{REPO}/build-rules", *ALICE)[0] == 200


def test_settings_webhooks(browser, hub):
    go(browser, hub, f"#/r/{REPO}/-/settings")
    if not webhooks_available(hub):
        find(browser, "#webhooks-unavailable")
        pytest.skip("this berth-hub has no webhooks API yet (the section says so)")
    find(browser, "#webhook-name").send_keys("ci")
    find(browser, "#webhook-url").send_keys("http://127.0.0.1:9/hook")
    find(browser, "#add-webhook").click()
    row = find(browser, "#webhooks-table tr[data-webhook]")
    assert row.find_element(By.CSS_SELECTOR, ".webhook-url").text == "http://127.0.0.1:9/hook"
    hooks = hub_api(hub, "GET", f"/api/v1/repositories/{REPO}/webhooks", *ALICE)[1]
    assert [(h["name"], h["url"]) for h in hooks] == [("ci", "http://127.0.0.1:9/hook")]
    # A bad scheme is refused with the API's message.
    find(browser, "#webhook-url").send_keys("ftp://example.com/x")
    find(browser, "#add-webhook").click()
    wait(browser, lambda: "error" in browser.find_element(By.ID, "toast").get_attribute("class"), what="error toast")
    row.find_element(By.LINK_TEXT, "Deliveries").click()
    find(browser, "#no-deliveries")
    # A push makes a delivery (to a closed port: it fails and is retried).
    oci_image().push(RegistryClient(f"http://{hub.host}", *ALICE), REPO, "hooked")
    hook = hooks[0]["id"]
    go(browser, hub, f"#/r/{REPO}/-/webhooks/{hook}")
    delivery = find(browser, "#deliveries-table tr[data-delivery]")
    assert '"tag": "hooked"' in delivery.find_element(By.CSS_SELECTOR, "pre").get_attribute("textContent")


def test_settings_automated_builds(browser, hub):
    go(browser, hub, f"#/r/{REPO}/-/settings")
    if not builds_available(hub):
        find(browser, "#builds-unavailable")
        pytest.skip("this berth-hub has no automated builds API yet (the section says so)")
    git = hub.tmp / "src.git"
    subprocess.run(["git", "init", "-q", "-b", "main", str(git)], check=True)
    (git / "Dockerfile").write_text("FROM scratch\n")
    subprocess.run(["git", "-C", str(git), "add", "."], check=True)
    subprocess.run(["git", "-C", str(git), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    find(browser, "#build-source").send_keys(str(git))
    find(browser, "#save-build-rules").click()
    toast_says(browser, "Build settings saved")
    assert "/builds/trigger/" in text_of(browser, "#build-trigger .pull-command")
    rules = hub_api(hub, "GET", f"/api/v1/repositories/{REPO}/build-rules", *ALICE)[1]
    assert rules["source"] == str(git) and rules["rules"][0]["source_name"] == "main"
    find(browser, "#build-now").click()
    toast_says(browser, "1 build queued")
    find(browser, "#builds-table a.build-log-link").click()
    find(browser, "#build-log")
    # No berthd (see the fixture): the build ends failed, and the log says why.
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#build h2 .badge.failure"), timeout=20,
         what="build failure")
    assert text_of(browser, "#build-log") and text_of(browser, "#build-error")


def test_make_private_then_sign_out_hides_it(browser, hub):
    go(browser, hub, f"#/r/{REPO}/-/settings")
    find(browser, "#visibility-private").click()
    find(browser, "#save-visibility").click()
    toast_says(browser, "is now private")
    assert hub_api(hub, "GET", f"/api/v1/repositories/{REPO}", *ALICE)[1]["is_private"] is True
    go(browser, hub, "#/")
    assert REPO in listed_repos(browser)
    sign_out(browser)
    assert REPO not in listed_repos(browser)
    assert search(browser, "webapp") == []
    go(browser, hub, f"#/r/{REPO}")
    assert "no repository" in text_of(browser, "#error")
    # A collaborator still sees it.
    sign_in(browser, hub, "bob", "bob-password")
    assert search(browser, "webapp") == [REPO]
    sign_out(browser)


def test_sign_up(browser, hub):
    go(browser, hub, "#/signup")
    find(browser, "#signup-username").send_keys("carol")
    find(browser, "#signup-email").send_keys("carol@example.com")
    find(browser, "#signup-password").send_keys("carol-password")
    find(browser, "#signup-form button[type=submit]").click()
    wait(browser, lambda: browser.find_element(By.ID, "nav-username").text == "carol", what="signed up")
    assert hub_api(hub, "GET", "/api/v1/user", "carol", "carol-password")[1]["email"] == "carol@example.com"
    # A wrong password on sign in shows the API's error in the form.
    sign_out(browser)
    go(browser, hub, "#/login")
    find(browser, "#login-username").send_keys("carol")
    find(browser, "#login-password").send_keys("wrong")
    find(browser, "#login-form button[type=submit]").click()
    assert text_of(browser, "#login-form .form-error")
    assert browser.find_elements(By.ID, "nav-sign-in")


def test_no_policy_violations_or_script_errors(browser):
    # Everything above ran under the strict CSP; Chromium logs any refused
    # script, style or frame and any uncaught exception to the console.
    bad = [e["message"] for e in browser.get_log("browser")
           if "Content Security Policy" in e["message"] or "Refused to" in e["message"] or "Uncaught" in e["message"]]
    assert bad == []
