"""The sendmail addon against real relays: the app's Secret, the Addon's check, a mail sent.

With per-app logins the relay is Postfix with Dovecot SASL (tests/harness/mail_relay.py), set up
as docs/provisioning.md tells an admin to: it is the relay, not the operator, that refuses app A
B's login or B's address.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.provisioners.relay_logins import hash_password
from tests.harness.mail_relay import MailRelay, SecretFileMirror
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import LOOPBACK, wait_until
from tests.harness.smtp_sink import SmtpSink
from tests.integration.addon_support import ADDON, AddonSet, addons_ready, app_object, secret_data
from tests.integration.apps_support import APP, WAIT, condition, get_app

RELAY_USER = "relay"
RELAY_PASSWORD = "relay-secret"


@pytest.fixture
def relay() -> Iterator[SmtpSink]:
    sink = SmtpSink(RELAY_USER, RELAY_PASSWORD).start()
    yield sink
    sink.stop()


def sendmail_addon(api: client.ApiClient, name: str, namespace: str, port: int, password: str) -> None:
    k8s.create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"username": RELAY_USER, "password": password},
        },
    )
    connection = {"host": LOOPBACK, "port": port, "adminSecretRef": {"name": name, "namespace": namespace}}
    k8s.create(
        api,
        {
            "apiVersion": ADDON[0],
            "kind": "Addon",
            "metadata": {"name": name},
            "spec": {"type": "sendmail", "connection": connection, "options": {"fromDomain": "example.com"}},
        },
    )


def addon_ready_reason(api: client.ApiClient, name: str) -> str:
    return str(condition(k8s.get(api, *ADDON, None, name) or {}, "Ready").get("reason", ""))


def test_an_app_sends_mail_through_the_relay_its_addon_names(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, relay: SmtpSink
) -> None:
    name = f"relay-{namespace[-6:]}"
    sendmail_addon(api_client, name, namespace, relay.port, RELAY_PASSWORD)
    try:
        app = app_object("mailer", namespace, AddonSet({"sendmail": name}, {}), {"sendmail": {}})
        k8s.create(api_client, app)
        wait_until(lambda: addons_ready(api_client, namespace, "mailer"), WAIT, "the sendmail addon")
        wait_until(lambda: addon_ready_reason(api_client, name) == "Connected", WAIT, "the relay's check")

        env = secret_data(api_client, namespace, "mailer-sendmail")
        assert env["CLOUDRON_MAIL_FROM"] == "mailer.app@example.com"
        message = EmailMessage()
        message["From"] = env["CLOUDRON_MAIL_FROM"]
        message["To"] = "someone@example.org"
        message["Subject"] = "hello"
        message.set_content("sent with the app's own variables")
        with smtplib.SMTP(
            env["CLOUDRON_MAIL_SMTP_SERVER"], int(env["CLOUDRON_MAIL_SMTP_PORT"]), timeout=5
        ) as smtp:
            smtp.login(env["CLOUDRON_MAIL_SMTP_USERNAME"], env["CLOUDRON_MAIL_SMTP_PASSWORD"])
            smtp.send_message(message)
        assert [(m.sender, m.recipients) for m in relay.received] == [
            ("mailer.app@example.com", ["someone@example.org"])
        ]
    finally:
        k8s.delete(api_client, *ADDON, None, name)


def test_a_relay_that_refuses_the_login_is_reported_without_the_password(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, relay: SmtpSink
) -> None:
    name = f"wrong-{namespace[-6:]}"
    sendmail_addon(api_client, name, namespace, relay.port, "not-the-password")
    try:
        wait_until(lambda: addon_ready_reason(api_client, name) == "Unreachable", WAIT, "the refused login")
        ready = condition(k8s.get(api_client, *ADDON, None, name) or {}, "Ready")
        assert "refused the login" in ready["message"]
        assert "not-the-password" not in str(k8s.get(api_client, *ADDON, None, name))
    finally:
        k8s.delete(api_client, *ADDON, None, name)


# --- each app its own login, on a real Postfix + Dovecot relay ------------------------------------------

LOGINS_SECRET = "relay-logins"


@pytest.fixture
def world() -> Iterator[SmtpSink]:
    """Where the relay delivers: the rest of the world, seen by the test."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def postfix(world: SmtpSink) -> Iterator[MailRelay]:
    relay = MailRelay.in_new_directory(upstream_port=world.port).start()
    yield relay
    relay.stop()


def app_logins_addon(api: client.ApiClient, name: str, namespace: str, port: int) -> None:
    logins = {"name": LOGINS_SECRET, "namespace": namespace}
    k8s.create(
        api,
        {
            "apiVersion": ADDON[0],
            "kind": "Addon",
            "metadata": {"name": name},
            "spec": {
                "type": "sendmail",
                "connection": {"host": LOOPBACK, "port": port},
                "options": {"fromDomain": "example.com", "appLoginsSecretRef": logins},
            },
        },
    )


def reconciled(api: client.ApiClient, namespace: str, name: str) -> bool:
    app = get_app(api, namespace, name)
    return bool(app.get("status", {}).get("reconciledGeneration") == app["metadata"]["generation"])


def send(env: dict[str, str], sender: str, *, username: str = "", password: str = "") -> str:
    """Log in and send one mail as `sender`; "sent", or the SMTP code the relay refused with."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "someone@example.org", "hello"
    message.set_content("hello")
    try:
        with smtplib.SMTP(
            env["CLOUDRON_MAIL_SMTP_SERVER"], int(env["CLOUDRON_MAIL_SMTP_PORT"]), timeout=30
        ) as smtp:
            smtp.login(
                username or env["CLOUDRON_MAIL_SMTP_USERNAME"], password or env["CLOUDRON_MAIL_SMTP_PASSWORD"]
            )
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        return f"login refused {error.smtp_code}"
    except smtplib.SMTPRecipientsRefused as error:
        return f"sender refused {next(iter(error.recipients.values()))[0]}"
    return "sent"


def test_each_app_logs_in_as_itself_and_cannot_use_another_apps_login_or_address(
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    postfix: MailRelay,
    world: SmtpSink,
) -> None:
    name = f"logins-{namespace[-6:]}"
    app_logins_addon(api_client, name, namespace, postfix.port)
    mirror = SecretFileMirror(api_client, namespace, LOGINS_SECRET, "passwd", postfix.logins_file).start()
    try:
        for app in ("alpha", "beta"):
            k8s.create(
                api_client, app_object(app, namespace, AddonSet({"sendmail": name}, {}), {"sendmail": {}})
            )
        wait_until(
            lambda: all(addons_ready(api_client, namespace, app) for app in ("alpha", "beta")),
            WAIT,
            "both apps' sendmail addon",
        )
        alpha = secret_data(api_client, namespace, "alpha-sendmail")
        beta = secret_data(api_client, namespace, "beta-sendmail")
        assert alpha["CLOUDRON_MAIL_SMTP_USERNAME"] == alpha["CLOUDRON_MAIL_FROM"] == "alpha.app@example.com"
        assert beta["CLOUDRON_MAIL_SMTP_USERNAME"] == "beta.app@example.com"
        assert alpha["CLOUDRON_MAIL_SMTP_PASSWORD"] != beta["CLOUDRON_MAIL_SMTP_PASSWORD"]
        ready = condition(k8s.get(api_client, *ADDON, None, name) or {}, "Ready")
        assert ready["reason"] == "Connected"
        assert f"each app has its own login, in Secret {namespace}/{LOGINS_SECRET}" in ready["message"]

        wait_until(
            lambda: "beta.app@example.com:" in postfix.logins_file.read_text(), WAIT, "the mirrored logins"
        )
        assert send(alpha, "alpha.app@example.com") == "sent"
        assert send(beta, "beta.app@example.com") == "sent"
        assert send(alpha, "alpha.app@example.com", password=beta["CLOUDRON_MAIL_SMTP_PASSWORD"]) == (
            "login refused 535"
        )
        assert send(alpha, "beta.app@example.com", username="beta.app@example.com") == "login refused 535"
        assert send(alpha, "beta.app@example.com") == "sender refused 553"  # its own login, B's address
        wait_until(lambda: len(world.received) == 2, WAIT, "the relay to deliver")
        assert sorted(m.sender for m in world.received) == ["alpha.app@example.com", "beta.app@example.com"]
        logins = postfix.logins_file.read_text()
        assert alpha["CLOUDRON_MAIL_SMTP_PASSWORD"] not in logins  # hashes only

        # A pass that finds the login in place writes nothing: the Secret keeps its version.
        version = (k8s.get(api_client, "v1", "Secret", namespace, LOGINS_SECRET) or {})["metadata"][
            "resourceVersion"
        ]
        k8s.json_patch(
            api_client, *APP, namespace, "alpha",
            operations=[{"op": "add", "path": "/spec/env", "value": {"TOUCH": "1"}}],
        )  # fmt: skip
        wait_until(lambda: reconciled(api_client, namespace, "alpha"), WAIT, "alpha's next pass")
        secret = k8s.get(api_client, "v1", "Secret", namespace, LOGINS_SECRET) or {}
        assert secret["metadata"]["resourceVersion"] == version

        # Without sendmail in its manifest, or deleted, an app loses its login at the relay.
        k8s.json_patch(
            api_client, *APP, namespace, "beta",
            operations=[{"op": "replace", "path": "/spec/manifest/addons", "value": {}}],
        )  # fmt: skip
        k8s.delete(api_client, *APP, namespace, "alpha")
        wait_until(
            lambda: "app@example.com" not in postfix.logins_file.read_text(), WAIT, "both logins removed"
        )
        # Dovecot looks at a changed file at most once a second: the refusals come within seconds.
        wait_until(lambda: send(alpha, "alpha.app@example.com") == "login refused 535", WAIT, "alpha refused")
        wait_until(lambda: send(beta, "beta.app@example.com") == "login refused 535", WAIT, "beta refused")
    finally:
        mirror.stop()
        k8s.delete(api_client, *ADDON, None, name)


def test_an_address_the_relay_already_has_is_not_taken_over_and_the_app_is_told(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, postfix: MailRelay
) -> None:
    """A login the admin wrote into the file (or another app's: unit tests) stays; the app says why."""
    admins = f"mailer.app@example.com:{hash_password('the-admins-own')}\n"
    k8s.create(
        api_client,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": LOGINS_SECRET, "namespace": namespace},
            "stringData": {"passwd": admins},
        },
    )
    name = f"taken-{namespace[-6:]}"
    app_logins_addon(api_client, name, namespace, postfix.port)
    try:
        k8s.create(
            api_client, app_object("mailer", namespace, AddonSet({"sendmail": name}, {}), {"sendmail": {}})
        )

        def told() -> str:
            found = condition(get_app(api_client, namespace, "mailer"), "AddonsReady")
            return str(found.get("message", "")) if found.get("reason") == "AddonFailed" else ""

        wait_until(lambda: bool(told()), WAIT, "the app to be told")
        assert (
            "the SMTP login mailer.app@example.com is already in use (not written by the operator)" in told()
        )
        assert secret_data(api_client, namespace, LOGINS_SECRET)["passwd"] == admins
    finally:
        k8s.delete(api_client, *ADDON, None, name)
