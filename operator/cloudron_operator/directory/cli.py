"""`python -m cloudron_operator user set-password NAME`: an admin sets or resets a user's password.

The password is read from standard input (the first line) or, on a terminal, asked twice without
echo; never from the command line, where other users of the machine and the shell history would
see it. Only its hash leaves this process: into the user's password Secret, which the operator turns
into the user's entry in every directory view they are allowed in.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from kubernetes import client

from cloudron_operator.directory.passwords import WeakPassword, hash_user_password
from cloudron_operator.directory.state import password_secret, password_secret_name
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION

PromptFn = Callable[[str], str]


def read_password(stdin: TextIO, prompt: PromptFn = getpass.getpass) -> str:
    if stdin.isatty():
        first, second = prompt("New password: "), prompt("Again: ")
        if first != second:
            raise WeakPassword("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def set_password(api: client.ApiClient, name: str, namespace: str, stdin: TextIO = sys.stdin) -> str:
    """Set the password of CloudronUser `name`; what to tell the admin. Raises LookupError, WeakPassword."""
    user = k8s.get(api, API_VERSION, "CloudronUser", None, name)
    if user is None:
        raise LookupError(f"there is no CloudronUser {name}")
    password_hash = hash_user_password(read_password(stdin))
    k8s.apply(api, password_secret(user, namespace, password_hash))
    secret = password_secret_name(user["spec"]["username"])
    return f"the password of {name} is set: its hash is in Secret {namespace}/{secret}"


def main(name: str, namespace: str) -> int:
    try:
        message = set_password(k8s.new_api_client(), name, namespace)
    except (LookupError, WeakPassword) as error:
        print(error, file=sys.stderr)
        return 1
    print(message)
    return 0
