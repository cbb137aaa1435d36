"""The sendmail addon against a real SMTP relay: the app's Secret, the Addon's check, a mail sent."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import LOOPBACK, wait_until
from tests.harness.smtp_sink import SmtpSink
from tests.integration.addon_support import ADDON, AddonSet, addons_ready, app_object, secret_data
from tests.integration.apps_support import WAIT, condition

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
