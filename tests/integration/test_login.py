"""Central login over the web, for real: Ory Hydra (the provider, in the harness's PostgreSQL), the
login service, slapd and the operator; an app with the `oidc` addon gets a client and its variables,
and a relying party that uses them runs the authorization-code flow with PKCE in headless Chromium.
The user signs in on our page; the ID token's claims are the CloudronUser's; a user outside the
app's access gets the refusal page and the app no code. Screenshots go to test-artifacts/."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from cloudron_operator.builders.oidc import secret_fingerprint
from cloudron_operator.builders.proxy_auth import AUTH_PORT
from cloudron_operator.builders.secrets import secret_values
from cloudron_operator.k8s import api as k8s
from tests.harness.binaries import built
from tests.harness.browser import chromium, screenshot
from tests.harness.databases import DatabaseServer
from tests.harness.hydra import HydraServer, start_hydra
from tests.harness.ldap import LdapServer, start_ldap_server
from tests.harness.localenv import LocalEnv
from tests.harness.login_service import LoginService
from tests.harness.pod_process import run_container
from tests.harness.processes import free_port, wait_until
from tests.harness.relying_party import RelyingParty
from tests.harness.tls_front import TlsFront
from tests.integration.apps_support import WAIT, condition, get_app, namespaced_operator
from tests.integration.login_support import Platform

pytestmark = pytest.mark.integration
PAGE_WAIT = 20.0


@dataclass(frozen=True)
class IdentityServers:
    """The module's directory and provider; the provider knows the login service's port already."""

    ldap: LdapServer
    hydra: HydraServer
    login_port: int


@pytest.fixture(scope="module")
def servers(
    installed_crds: None, tmp_path_factory: pytest.TempPathFactory, postgres_server: DatabaseServer
) -> Iterator[IdentityServers]:
    ldap = start_ldap_server(tmp_path_factory.mktemp("directory"))
    login_port = free_port()
    try:
        hydra = start_hydra(
            tmp_path_factory.mktemp("hydra"), postgres_server, f"http://127.0.0.1:{login_port}"
        )
    except BaseException:
        ldap.stop()
        raise
    yield IdentityServers(ldap, hydra, login_port)
    hydra.stop()
    ldap.stop()


@pytest.fixture
def platform(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    tmp_path: Path,
    servers: IdentityServers,
) -> Iterator[Platform]:
    kubeconfig = cluster.cluster.kubeconfig
    settings = {
        "CLOUDRON_OPERATOR_USERS_NAMESPACE": namespace,
        "CLOUDRON_OPERATOR_LOGIN_URL": f"http://127.0.0.1:{servers.login_port}",
    }
    operator = namespaced_operator(kubeconfig, tmp_path / "operator.log", namespace, settings)
    login = LoginService(
        kubeconfig,
        tmp_path / "login.log",
        servers.ldap.url,
        namespace,
        port=servers.login_port,
        hydra_admin_url=servers.hydra.admin_url,
    )
    operator.start()
    login.start()
    found = Platform(
        api_client, cluster, namespace, ldap=servers.ldap, hydra=servers.hydra, login=login, operator=operator
    )
    yield found
    found.cleanup()
    login.stop()
    operator.stop()


@pytest.fixture
def app_port() -> int:
    """Where the test's app (a relying party) listens: the browser reaches every *.example.com there."""
    return free_port()


@pytest.fixture
def browser(tmp_path: Path, app_port: int) -> Iterator[Chrome]:
    driver = chromium(tmp_path / "chromium", f"MAP *.example.com 127.0.0.1:{app_port}")
    yield driver
    driver.quit()


def addons_condition(platform: Platform, app: str) -> dict[str, Any]:
    return condition(get_app(platform.api, platform.namespace, app), "AddonsReady")


def wait_for_addons(platform: Platform, app: str) -> None:
    wait_until(
        lambda: addons_condition(platform, app).get("status") == "True",
        WAIT,
        f"{app}'s addons provisioned",
    )


def wait_for(driver: Chrome, element_id: str) -> None:
    """Wait for the page with this element; else fail showing where the browser is and what it shows."""
    try:
        WebDriverWait(driver, PAGE_WAIT).until(
            expected_conditions.presence_of_element_located((By.ID, element_id))
        )
    except TimeoutException:
        text = driver.find_element(By.TAG_NAME, "body").text[:500]
        raise AssertionError(f"no #{element_id} at {driver.current_url}: {text!r}") from None


def forget_sessions(driver: Chrome, platform: Platform) -> None:
    """A new visitor: no cookie of the provider's, the login service's or the app's."""
    for page in (f"{platform.hydra.issuer}health/alive", f"{platform.login.url}/healthz"):
        driver.get(page)
        driver.delete_all_cookies()


def sign_in(driver: Chrome, login: str, password: str) -> None:
    wait_for(driver, "login")
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_an_oidc_app_signs_its_users_in_through_the_provider_in_a_browser(
    platform: Platform, browser: Chrome, app_port: int, tmp_path: Path
) -> None:
    platform.create_addons()
    alice = platform.create_user("alice", displayName="Alice Liddell", groups=["engineering"])
    bob = platform.create_user("bob", groups=["sales"])
    platform.install(
        "wiki", {"loginRedirectUri": "/callback", "logoutRedirectUri": "/"}, {"groups": ["engineering"]}
    )
    wait_for_addons(platform, "wiki")
    env = platform.oidc_env("wiki")
    uid = platform.app_uid("wiki")
    base = platform.hydra.issuer.rstrip("/")
    assert env == {
        "CLOUDRON_OIDC_PROVIDER_NAME": "Cloudron",
        "CLOUDRON_OIDC_ISSUER": platform.hydra.issuer,
        "CLOUDRON_OIDC_DISCOVERY_URL": f"{base}/.well-known/openid-configuration",
        "CLOUDRON_OIDC_AUTH_ENDPOINT": f"{base}/oauth2/auth",
        "CLOUDRON_OIDC_TOKEN_ENDPOINT": f"{base}/oauth2/token",
        "CLOUDRON_OIDC_KEYS_ENDPOINT": f"{base}/.well-known/jwks.json",
        "CLOUDRON_OIDC_PROFILE_ENDPOINT": f"{base}/userinfo",
        "CLOUDRON_OIDC_CLIENT_ID": uid,
        "CLOUDRON_OIDC_CLIENT_SECRET": env["CLOUDRON_OIDC_CLIENT_SECRET"],
    }
    assert len(env["CLOUDRON_OIDC_CLIENT_SECRET"]) >= 32
    discovery = requests.get(env["CLOUDRON_OIDC_DISCOVERY_URL"], timeout=10).json()
    for name, key in (
        ("AUTH", "authorization_endpoint"),
        ("TOKEN", "token_endpoint"),
        ("KEYS", "jwks_uri"),
        ("PROFILE", "userinfo_endpoint"),
    ):
        assert discovery[key] == env[f"CLOUDRON_OIDC_{name}_ENDPOINT"], (
            "the variables are what discovery says"
        )
    held = platform.hydra.client(uid)
    assert held is not None and held["redirect_uris"] == [f"https://{platform.domain('wiki')}/callback"]
    assert held["post_logout_redirect_uris"] == [f"https://{platform.domain('wiki')}/"]

    party = RelyingParty(platform.domain("wiki"), env, tmp_path / "rp", port=app_port).start()
    try:
        browser.get(f"https://{platform.domain('wiki')}/start")
        wait_for(browser, "login")
        assert "Sign in to The Wiki" in browser.find_element(By.TAG_NAME, "h1").text
        screenshot(browser, "login-page")
        sign_in(browser, alice, "not-her-password")
        wait_for(browser, "error")
        assert "Wrong username or password" in browser.find_element(By.ID, "error").text
        browser.find_element(By.ID, "login").clear()
        sign_in(browser, alice, platform.passwords[alice])
        wait_for(browser, "signed-in")
        assert party.claims, "the app redeemed a code and took the ID token"
        claims = party.claims[-1]
        assert claims["sub"] == alice and claims["preferred_username"] == alice
        assert (claims["name"], claims["given_name"], claims["family_name"]) == (
            "Alice Liddell",
            "Alice",
            "Liddell",
        )
        assert (claims["email"], claims["email_verified"]) == (f"{alice}@example.com", True)
        assert claims["groups"] == ["engineering"]

        forget_sessions(browser, platform)
        callbacks = len(party.callbacks)
        browser.get(f"https://{platform.domain('wiki')}/start")
        sign_in(browser, bob, platform.passwords[bob])
        wait_for(browser, "refused")
        assert "has no access to The Wiki" in browser.find_element(By.CSS_SELECTOR, "p.error").text
        screenshot(browser, "refusal-page")
        assert len(party.callbacks) == callbacks and len(party.claims) == 1, "bob brought the app no code"
    finally:
        party.stop()


def test_forged_and_replayed_challenges_and_foreign_redirects_are_refused(
    platform: Platform, tmp_path: Path
) -> None:
    platform.create_addons()
    alice = platform.create_user("alice")
    platform.install("wiki", {"loginRedirectUri": "/callback"})
    wait_for_addons(platform, "wiki")
    env = platform.oidc_env("wiki")
    session = requests.Session()
    forged = session.get(f"{platform.login.url}/login", params={"login_challenge": "forged"}, timeout=10)
    assert forged.status_code == 410 and "expired or was used" in forged.text
    consent = session.get(f"{platform.login.url}/consent", params={"consent_challenge": "forged"}, timeout=10)
    assert consent.status_code == 410

    foreign = session.get(
        env["CLOUDRON_OIDC_AUTH_ENDPOINT"],
        params={
            "response_type": "code",
            "client_id": env["CLOUDRON_OIDC_CLIENT_ID"],
            "redirect_uri": "https://evil.example.net/callback",
            "scope": "openid",
            "state": "s" * 16,
        },
        allow_redirects=False,
        timeout=10,
    )
    location = urllib.parse.urlsplit(foreign.headers["Location"])
    assert location.netloc == urllib.parse.urlsplit(platform.login.url).netloc and location.path == "/error"
    assert "evil" not in foreign.headers["Location"].split("?")[0], "never sent to the unregistered URI"

    # A whole sign-in by HTTP, then the consent's redirect replayed: the provider refuses it.
    party = RelyingParty(platform.domain("wiki"), env, tmp_path / "rp")
    auth = session.get(party.authorization_url(), allow_redirects=False, timeout=10)
    login_page = session.get(auth.headers["Location"], timeout=10)
    csrf = session.cookies.get("cloudron-csrf")
    challenge = urllib.parse.parse_qs(urllib.parse.urlsplit(login_page.url).query)["login_challenge"][0]
    without_csrf = session.post(
        f"{platform.login.url}/login",
        data={"challenge": challenge, "login": alice, "password": platform.passwords[alice]},
        allow_redirects=False,
        timeout=10,
    )
    assert without_csrf.status_code == 403, "a form without its CSRF token is refused"
    accepted = session.post(
        f"{platform.login.url}/login",
        data={"csrf": csrf, "challenge": challenge, "login": alice, "password": platform.passwords[alice]},
        allow_redirects=False,
        timeout=10,
    )
    assert accepted.status_code == 303
    to_consent = session.get(accepted.headers["Location"], allow_redirects=False, timeout=10)
    after_consent = session.get(to_consent.headers["Location"], allow_redirects=False, timeout=10)
    verifier_url = after_consent.headers["Location"]
    first = session.get(verifier_url, allow_redirects=False, timeout=10)
    assert "code=" in first.headers["Location"]
    replayed = session.get(verifier_url, allow_redirects=False, timeout=10)
    assert "code=" not in replayed.headers.get("Location", ""), "a consent verifier works once"
    stranger = requests.get(accepted.headers["Location"], allow_redirects=False, timeout=10)
    assert "code=" not in stranger.headers.get("Location", ""), (
        "another browser cannot use the login's redirect"
    )


def sign_in_by_http(platform: Platform, party: RelyingParty, username: str) -> dict[str, str]:
    """The authorization-code flow without a browser: the query the app's redirect URI gets."""
    session = requests.Session()
    auth = session.get(party.authorization_url(), allow_redirects=False, timeout=10)
    login_page = session.get(auth.headers["Location"], timeout=10)
    challenge = urllib.parse.parse_qs(urllib.parse.urlsplit(login_page.url).query)["login_challenge"][0]
    answer = session.post(
        f"{platform.login.url}/login",
        data={
            "csrf": session.cookies.get("cloudron-csrf"),
            "challenge": challenge,
            "login": username,
            "password": platform.passwords[username],
        },
        allow_redirects=False,
        timeout=10,
    )
    while "code=" not in answer.headers.get("Location", "") and answer.is_redirect:
        answer = session.get(answer.headers["Location"], allow_redirects=False, timeout=10)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))


def test_a_new_user_follows_the_invite_sets_a_password_and_signs_in_to_an_app(
    platform: Platform, browser: Chrome, app_port: int, tmp_path: Path
) -> None:
    platform.create_addons()
    platform.install("chat", {"loginRedirectUri": "/callback"})
    platform.install("vault", {"loginRedirectUri": "/callback"}, {"users": ["someone-else"]})
    carol = platform.create_user("carol", password=False, displayName="Carol Ann")
    invite = f"cloudron-invite-{carol}"
    wait_until(
        lambda: k8s.get(platform.api, "v1", "Secret", platform.namespace, invite) is not None,
        WAIT,
        "the operator's invite for carol",
    )
    link = secret_values(k8s.get(platform.api, "v1", "Secret", platform.namespace, invite) or {})["link"]
    assert link.startswith(f"{platform.login.url}/invite?user={carol}&token=")
    ready = wait_for_condition(platform, carol, lambda c: invite in c.get("message", ""))
    assert ready["reason"] == "NoPassword", "her Ready condition says where the link is"
    wait_for_addons(platform, "chat")
    party = RelyingParty(
        platform.domain("chat"), platform.oidc_env("chat"), tmp_path / "rp", port=app_port
    ).start()
    try:
        browser.get(link)
        wait_for(browser, "new")
        assert "Welcome, Carol Ann" in browser.find_element(By.TAG_NAME, "h1").text
        screenshot(browser, "invite-page")
        password = "carols-own-password"
        browser.find_element(By.ID, "new").send_keys(password)
        browser.find_element(By.ID, "again").send_keys(password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, PAGE_WAIT).until(expected_conditions.title_contains("Password set"))
        wait_until(
            lambda: k8s.get(platform.api, "v1", "Secret", platform.namespace, invite) is None,
            WAIT,
            "the used invite gone",
        )
        wait_for_condition(platform, carol, lambda c: c.get("reason") == "InDirectory")
        browser.get(link)
        assert "not valid, or was used already" in browser.find_element(By.TAG_NAME, "body").text

        browser.get(f"{platform.login.url}/account")
        browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
        WebDriverWait(browser, PAGE_WAIT).until(expected_conditions.title_contains("Signed out"))
        browser.get(f"https://{platform.domain('chat')}/start")
        sign_in(browser, carol, password)
        wait_for(browser, "signed-in")
        assert party.claims[-1]["preferred_username"] == carol and party.claims[-1]["name"] == "Carol Ann"

        browser.get(f"{platform.login.url}/account")
        apps = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.apps a")]
        assert "The Chat" in apps and "The Vault" not in apps, "her account page lists the apps she may open"
    finally:
        party.stop()


def wait_for_condition(
    platform: Platform, username: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ready() -> bool:
        user = k8s.get(platform.api, "cloudron.io/v1alpha1", "CloudronUser", None, username) or {}
        found.update(condition(user, "Ready"))
        return check(found)

    wait_until(ready, WAIT, f"{username}'s Ready condition")
    return found


def test_a_redirect_uri_that_could_send_a_code_elsewhere_makes_no_client(platform: Platform) -> None:
    platform.create_addons()
    platform.install("wiki", {"loginRedirectUri": "/callback,https://evil.example.net/cb"})
    wait_until(
        lambda: addons_condition(platform, "wiki").get("reason") == "InvalidManifest",
        WAIT,
        "the bad redirect URI refused",
    )
    app = get_app(platform.api, platform.namespace, "wiki")
    message = condition(app, "AddonsReady")["message"]
    assert "https://evil.example.net/cb" in message and "loginRedirectUri" in message
    assert condition(app, "Ready")["status"] == "False"
    assert platform.hydra.client(platform.app_uid("wiki")) is None, "no client at the provider"

    platform.install("chat", {"loginRedirectUri": "/callback", "tokenSignatureAlgorithm": "EdDSA"})
    wait_until(
        lambda: addons_condition(platform, "chat").get("reason") == "InvalidOptions",
        WAIT,
        "an app that needs EdDSA ID tokens refused by an RS256 provider",
    )
    assert "idTokenAlgorithm is EdDSA" in addons_condition(platform, "chat")["message"]
    assert platform.hydra.client(platform.app_uid("chat")) is None


def test_the_client_follows_the_apps_domain_and_goes_with_the_app(platform: Platform) -> None:
    platform.create_addons()
    platform.install("wiki", {"loginRedirectUri": "/callback", "logoutRedirectUri": "/bye"})
    wait_for_addons(platform, "wiki")
    uid = platform.app_uid("wiki")
    secret = platform.oidc_env("wiki")["CLOUDRON_OIDC_CLIENT_SECRET"]
    app = get_app(platform.api, platform.namespace, "wiki")
    moved = f"docs-{platform.tag}.example.com"
    k8s.json_patch(
        platform.api,
        "cloudron.io/v1alpha1",
        "CloudronApp",
        platform.namespace,
        "wiki",
        operations=[{"op": "replace", "path": "/spec/domain", "value": moved}],
    )
    wait_until(
        lambda: (platform.hydra.client(uid) or {}).get("redirect_uris") == [f"https://{moved}/callback"],
        WAIT,
        "the client's redirect URIs to follow the domain",
    )
    assert (platform.hydra.client(uid) or {})["post_logout_redirect_uris"] == [f"https://{moved}/bye"]
    assert platform.oidc_env("wiki")["CLOUDRON_OIDC_CLIENT_SECRET"] == secret, "the secret is kept"
    assert app["metadata"]["uid"] == uid
    k8s.delete(platform.api, "cloudron.io/v1alpha1", "CloudronApp", platform.namespace, "wiki")
    wait_until(lambda: platform.hydra.client(uid) is None, WAIT, "the client deleted with the app")


def test_failed_passwords_are_slowed_down_and_logged_without_the_password(platform: Platform) -> None:
    platform.create_addons()
    alice = platform.create_user("alice")
    carol = platform.create_user("carol", active=False)
    inactive = requests.Session()
    inactive.get(f"{platform.login.url}/login", timeout=10)
    refused = inactive.post(
        f"{platform.login.url}/login",
        data={
            "csrf": inactive.cookies.get("cloudron-csrf"),
            "login": carol,
            "password": platform.passwords[carol],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 401, "an inactive user cannot sign in, with the right password"

    session = requests.Session()
    session.get(f"{platform.login.url}/login", timeout=10)
    csrf = session.cookies.get("cloudron-csrf")
    statuses = []
    for attempt in range(10):
        answer = session.post(
            f"{platform.login.url}/login",
            data={"csrf": csrf, "login": alice, "password": f"wrong-guess-{attempt}"},
            allow_redirects=False,
            timeout=10,
        )
        statuses.append(answer.status_code)
    # The address has one failure already (carol's): four more say so, then each attempt must wait.
    assert statuses[:4] == [401] * 4, "the first failures only say so"
    assert set(statuses[4:]) == {429}, "then each attempt must wait: not even checked"
    right = session.post(
        f"{platform.login.url}/login",
        data={"csrf": csrf, "login": alice, "password": platform.passwords[alice]},
        allow_redirects=False,
        timeout=10,
    )
    assert right.status_code == 429, "the right password waits too: guessing gains nothing"
    log = platform.login.log.read_text()
    assert "failed sign-in 5 in a row" in log and alice in log
    assert "wrong-guess" not in log and platform.passwords[alice] not in log


def test_provider_down_fails_its_apps_addons_only_and_they_recover(platform: Platform) -> None:
    platform.create_addons()
    platform.install("wiki", {"loginRedirectUri": "/callback"})
    platform.install_ldap_only("books")
    for app in ("wiki", "books"):
        wait_for_addons(platform, app)
    secret = platform.oidc_env("wiki")["CLOUDRON_OIDC_CLIENT_SECRET"]
    platform.hydra.stop()
    try:
        wait_until(
            lambda: addon_condition(platform, platform.oidc_addon).get("status") == "False",
            WAIT,
            "the oidc Addon not Ready while its provider is down",
        )
        assert "cannot reach the provider" in addon_condition(platform, platform.oidc_addon)["message"]
        wait_until(
            lambda: addons_condition(platform, "wiki").get("status") == "False",
            WAIT,
            "wiki's addons not ready",
        )
        assert addons_condition(platform, "books")["status"] == "True"
    finally:
        platform.hydra.start()
    started = time.monotonic()
    wait_for_addons(platform, "wiki")
    recovered = time.monotonic() - started
    assert recovered < 60, f"wiki recovered {recovered:.0f}s after its provider"
    assert platform.oidc_env("wiki")["CLOUDRON_OIDC_CLIENT_SECRET"] == secret, "the same secret after"
    discovery = requests.get(platform.oidc_env("wiki")["CLOUDRON_OIDC_KEYS_ENDPOINT"], timeout=10)
    assert discovery.status_code == 200 and discovery.json()["keys"], "the provider signs with its keys again"


def test_without_the_login_service_no_one_signs_in(platform: Platform, tmp_path: Path) -> None:
    """Fail closed: the provider sends the browser to a login page that does not answer; no code."""
    platform.create_addons()
    alice = platform.create_user("alice")
    platform.install("wiki", {"loginRedirectUri": "/callback"})
    wait_for_addons(platform, "wiki")
    party = RelyingParty(platform.domain("wiki"), platform.oidc_env("wiki"), tmp_path / "rp")
    platform.login.stop()
    try:
        session = requests.Session()
        auth = session.get(party.authorization_url(), allow_redirects=False, timeout=10)
        assert auth.headers["Location"].startswith(f"{platform.login.url}/login?login_challenge=")
        with pytest.raises(requests.ConnectionError):
            session.get(auth.headers["Location"], timeout=10)
    finally:
        platform.login.start()
    query = sign_in_by_http(platform, party, alice)
    assert "code" in query, "back: she signs in"


def addon_condition(platform: Platform, name: str) -> dict[str, Any]:
    addon = k8s.get(platform.api, "cloudron.io/v1alpha1", "Addon", None, name) or {}
    return condition(addon, "Ready")


def test_the_operator_killed_mid_registration_leaves_one_client_per_app_and_every_secret_as_made(
    platform: Platform,
) -> None:
    platform.create_addons()
    apps = [f"app{index:02d}" for index in range(20)]
    platform.operator.stop()  # the apps arrive together, as after a restore of the cluster's objects
    for app in apps:
        platform.install(app, {"loginRedirectUri": "/callback"})
    first_secrets: dict[str, str] = {}

    def registered() -> int:
        for app in apps:
            secret = platform.oidc_env(app).get("CLOUDRON_OIDC_CLIENT_SECRET")
            if secret:
                first_secrets.setdefault(app, secret)
        return len(ours(platform))

    killed_at = []
    for _ in range(3):  # killed as soon as a client more is registered: the others are under way
        before = len(ours(platform))
        platform.operator.start()
        wait_until(lambda: len(ours(platform)) > before, WAIT, "one more client registered")  # noqa: B023
        platform.operator.kill()
        killed_at.append(registered())
    platform.operator.start()
    assert min(killed_at) < len(apps), f"every kill came after every registration: {killed_at}"
    print(f"killed with {killed_at} of {len(apps)} clients registered")
    for app in apps:
        wait_for_addons(platform, app)
    registered()
    clients = ours(platform)
    assert sorted(clients) == sorted(platform.app_uid(app) for app in apps), (
        f"one client per app (killed with {killed_at} registered)"
    )
    for app in apps:
        secret = platform.oidc_env(app)["CLOUDRON_OIDC_CLIENT_SECRET"]
        assert secret == first_secrets[app], f"{app}'s secret is the one made first"
        metadata = clients[platform.app_uid(app)]["metadata"]
        assert metadata["secretSha256"] == secret_fingerprint(secret), f"{app}'s client has its secret"


def ours(platform: Platform) -> dict[str, dict[str, Any]]:
    """The provider's clients of the test's apps, by client id."""
    prefix = f"{platform.namespace}/"
    return {
        str(found["client_id"]): found
        for found in platform.hydra.clients()
        if str((found.get("metadata") or {}).get("cloudronApp", "")).startswith(prefix)
    }


class StandIn:
    """The app behind the wall: answers every request and remembers its path and identity headers."""

    def __init__(self, port: int) -> None:
        self.requests: list[dict[str, str]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                seen.append({"path": self.path, **headers})
                user = headers.get("x-forwarded-user", "nobody")
                body = f"<!doctype html><title>app</title><p id='app'>hello {user}</p>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_proxyauth_app_is_behind_a_wall_that_only_its_users_pass(
    platform: Platform, browser: Chrome, app_port: int, tmp_path: Path
) -> None:
    platform.create_addons()
    alice = platform.create_user("alice", groups=["ops"])
    bob = platform.create_user("bob")
    http_port = free_port()
    options = {"path": "!/public", "supportsBearerAuth": True}
    platform.install_walled("board", http_port, options, {"groups": ["ops"]})
    wait_for_addons(platform, "board")
    deployment = k8s.get(platform.api, "apps/v1", "Deployment", platform.namespace, "board")
    assert deployment is not None
    assert "envFrom" not in deployment["spec"]["template"]["spec"]["containers"][0], (
        "the app gets no credentials"
    )
    wall = run_container(
        platform.api,
        deployment,
        "auth",
        {"/bin/oauth2-proxy": built("oauth2-proxy", "OAUTH2_PROXY_VERSION")},
        root=tmp_path / "auth",
        log=tmp_path / "oauth2-proxy.log",
    )
    app = StandIn(http_port)
    front = TlsFront(platform.domain("board"), app_port, AUTH_PORT, tmp_path / "front").start()
    home = f"https://{platform.domain('board')}/"
    try:
        wait_until(
            lambda: requests.get(f"http://127.0.0.1:{AUTH_PORT}/oauth2/ping", timeout=2).ok, WAIT, "the wall"
        )
        unsigned = requests.get(f"http://127.0.0.1:{AUTH_PORT}/", allow_redirects=False, timeout=10)
        assert unsigned.status_code == 302 and unsigned.headers["Location"].startswith(platform.hydra.issuer)
        assert "code_challenge_method=S256" in unsigned.headers["Location"]
        login = requests.get(f"http://127.0.0.1:{AUTH_PORT}/login", allow_redirects=False, timeout=10)
        assert login.status_code == 302 and login.headers["Location"].startswith(platform.hydra.issuer), (
            "/login starts a sign-in, as on Cloudron"
        )
        public = requests.get(f"http://127.0.0.1:{AUTH_PORT}/public/notes", timeout=10)
        assert public.status_code == 200 and app.requests[-1]["path"] == "/public/notes", "!/public: no wall"
        assert "x-forwarded-user" not in app.requests[-1]

        browser.get(home)
        sign_in(browser, alice, platform.passwords[alice])
        wait_for(browser, "app")
        assert browser.find_element(By.ID, "app").text == f"hello {alice}"
        seen = app.requests[-1]
        assert (seen["x-forwarded-user"], seen["x-forwarded-email"]) == (alice, f"{alice}@example.com")
        assert seen["x-forwarded-groups"] == "ops"

        browser.get(f"https://{platform.domain('board')}/logout")
        count = len(app.requests)
        browser.get(home)
        wait_for(browser, "login")
        assert len(app.requests) == count, "signed out: the next request is sent to sign in again"

        # supportsBearerAuth: a JWT the provider signed for the wall's client passes, nothing else.
        wall_secret = secret_values(
            k8s.get(platform.api, "v1", "Secret", platform.namespace, "board-proxyauth") or {}
        )
        base = platform.hydra.issuer.rstrip("/")
        client = {
            "CLOUDRON_OIDC_CLIENT_ID": f"{platform.app_uid('board')}-proxyauth",
            "CLOUDRON_OIDC_CLIENT_SECRET": wall_secret["PROXY_AUTH_CLIENT_SECRET"],
            "CLOUDRON_OIDC_ISSUER": platform.hydra.issuer,
            "CLOUDRON_OIDC_AUTH_ENDPOINT": f"{base}/oauth2/auth",
            "CLOUDRON_OIDC_TOKEN_ENDPOINT": f"{base}/oauth2/token",
            "CLOUDRON_OIDC_KEYS_ENDPOINT": f"{base}/.well-known/jwks.json",
        }
        party = RelyingParty(
            platform.domain("board"), client, tmp_path / "rp", callback_path="/oauth2/callback"
        )
        assert party.callback(sign_in_by_http(platform, party, alice))[0] == 200
        token = party.id_tokens[-1]
        wall_url = f"http://127.0.0.1:{AUTH_PORT}/api/collections"
        bearer = requests.get(wall_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert bearer.status_code == 200 and app.requests[-1]["x-forwarded-user"] == alice
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for wrong in (forged, "an-opaque-token"):
            refused = requests.get(wall_url, headers={"Authorization": f"Bearer {wrong}"}, timeout=10)
            assert refused.status_code in (401, 403), (
                f"{refused.status_code} for a bearer token that is not the app's"
            )

        forget_sessions(browser, platform)
        browser.get(home)
        sign_in(browser, bob, platform.passwords[bob])
        wait_for(browser, "refused")
        screenshot(browser, "proxyauth-refusal-page")
        assert all(request.get("x-forwarded-user") != bob for request in app.requests), "bob never passed"
    finally:
        front.stop()
        app.stop()
        wall.terminate()
        wall.wait(timeout=10)
