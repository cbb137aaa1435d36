"""Checking a sendmail Addon's relay: it answers SMTP and, when the Addon names a login, accepts it."""

from __future__ import annotations

import smtplib
import ssl
from typing import Final

from cloudron_operator.builders.sendmail import Relay
from cloudron_operator.provisioners.base import ServerUnreachable

TIMEOUT_SECONDS: Final = 5.0


def check_relay(relay: Relay, *, needs_auth: bool = False) -> str:
    """Greet the relay (EHLO, STARTTLS when offered, AUTH when there is a login); its greeting back.

    `needs_auth`: the apps will log in (each with its own login), so the relay must offer AUTH.

    Raises ServerUnreachable with a message of our own: an SMTP reply never carries the password,
    but the text is the server's, so only its code is kept.
    """
    where = f"{relay.host}:{relay.port}"
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=TIMEOUT_SECONDS) as smtp:
            code, greeting = smtp.ehlo()
            if code != 250:
                raise ServerUnreachable(f"the relay at {where} refused EHLO ({code})")
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if needs_auth and not smtp.has_extn("auth"):
                raise ServerUnreachable(f"the relay at {where} offers no AUTH, and each app logs in")
            if relay.username:
                smtp.login(relay.username, relay.password)
            return greeting.decode(errors="replace").splitlines()[0]
    except smtplib.SMTPAuthenticationError as error:
        raise ServerUnreachable(f"the relay at {where} refused the login ({error.smtp_code})") from None
    except smtplib.SMTPNotSupportedError:
        raise ServerUnreachable(f"the relay at {where} offers no AUTH for the Addon's login") from None
    except (smtplib.SMTPException, ssl.SSLError) as error:
        raise ServerUnreachable(f"the relay at {where} failed: {type(error).__name__}") from None
    except OSError as error:
        raise ServerUnreachable(
            f"cannot reach the relay at {where}: {error.strerror or type(error).__name__}"
        ) from None
