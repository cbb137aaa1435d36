"""A real mail relay on loopback: Debian's Postfix, authenticating with Debian's Dovecot SASL.

Set up as docs/provisioning.md tells an admin to set up the cluster's relay for the sendmail
addon: Dovecot checks each app's login against the passwd-file the operator keeps in a Secret,
and Postfix relays only for a logged-in client, and only from the address that is its login
(`reject_sender_login_mismatch`). What it accepts goes on to `upstream` (an SmtpSink standing for
the rest of the world), so a test sees what was delivered.

In a cluster the kubelet puts the Secret's key into the relay's pod as a file; here no kubelet
mounts volumes, so `SecretFileMirror` does that part: it reads the Secret and replaces the file
(a rename, as the kubelet's atomic writer does) when its content changes.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.processes import (
    LOOPBACK,
    HarnessError,
    free_port,
    spawn,
    stop_process_group,
    wait_until,
)

START_TIMEOUT: Final = 30.0
POSTFIX: Final = Path("/usr/sbin/postfix")
DOVECOT: Final = Path("/usr/sbin/dovecot")
# Postfix's own services, none chrooted (the queue directory is a throwaway one).
_MASTER_SERVICES: Final = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass
class MailRelay:
    """Postfix on `port` with Dovecot SASL over `logins_file`; relays to 127.0.0.1:`upstream_port`."""

    directory: Path
    upstream_port: int
    port: int = field(default_factory=free_port)
    _pids: list[int] = field(default_factory=list)

    @classmethod
    def in_new_directory(cls, upstream_port: int) -> MailRelay:
        """In a directory of its own that Postfix's and Dovecot's users can reach (a test's tmp_path
        is root's alone); `stop` removes it."""
        directory = Path(tempfile.mkdtemp(prefix="cloudron-relay-"))
        directory.chmod(0o755)
        return cls(directory, upstream_port)

    @property
    def logins_file(self) -> Path:
        return self.directory / "logins" / "passwd"

    def start(self) -> MailRelay:
        if os.geteuid() != 0:
            raise HarnessError("the mail relay needs root: Postfix's master starts as root")
        for program in (POSTFIX, DOVECOT):
            if not program.exists():
                raise HarnessError(f"{program} not found: apt-get install postfix dovecot-core")
        for sub in ("logins", "postfix", "queue", "data", "dovecot-run", "dovecot-state"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.directory / "data", "postfix")
        self.logins_file.touch()
        self._write_config()
        dovecot = spawn(
            [str(DOVECOT), "-F", "-c", str(self.directory / "dovecot.conf")], self.directory / "dovecot.out"
        )
        self._pids.append(dovecot.pid)
        wait_until(self._auth_socket.exists, START_TIMEOUT, "Dovecot's auth socket")
        postfix = spawn(
            [str(POSTFIX), "-c", str(self.directory / "postfix"), "start-fg"], self.directory / "postfix.out"
        )
        self._pids.append(postfix.pid)
        wait_until(self._listening, START_TIMEOUT, f"Postfix on {LOOPBACK}:{self.port}")
        return self

    def stop(self) -> None:
        for pid in reversed(self._pids):
            stop_process_group(pid)
        self._pids.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def _auth_socket(self) -> Path:
        return self.directory / "auth"

    def _listening(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex((LOOPBACK, self.port)) == 0

    def _write_config(self) -> None:
        d = self.directory
        (d / "dovecot.conf").write_text(
            f"""\
base_dir = {d}/dovecot-run
state_dir = {d}/dovecot-state
log_path = {d}/dovecot.log
protocols = none
listen = {LOOPBACK}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = {self.logins_file}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup
}}
service auth {{
  unix_listener {self._auth_socket} {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        (d / "postfix" / "main.cf").write_text(
            f"""\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
mail_owner = postfix
inet_interfaces = {LOOPBACK}
inet_protocols = ipv4
myhostname = relay.test
mydestination =
local_transport = error:no local delivery
relayhost = [{LOOPBACK}]:{self.upstream_port}
smtp_dns_support_level = disabled
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self._auth_socket}
smtpd_sasl_security_options = noanonymous
smtpd_sender_login_maps = regexp:{d}/postfix/sender-logins
smtpd_sender_restrictions = reject_sender_login_mismatch
smtpd_relay_restrictions = permit_sasl_authenticated, reject
"""
        )
        # Every address is owned by the login of the same name: a login sends as itself only.
        (d / "postfix" / "sender-logins").write_text("/^(.+)$/ ${1}\n")
        (d / "postfix" / "master.cf").write_text(
            f"{self.port}  inet  n  -  n  -  -  smtpd\n" + _MASTER_SERVICES
        )
        subprocess.run([str(POSTFIX), "-c", str(d / "postfix"), "check"], check=True, capture_output=True)


@dataclass
class SecretFileMirror:
    """The kubelet's part: one key of a Secret kept in a file, replaced by a rename when it changes."""

    api: client.ApiClient
    namespace: str
    name: str
    key: str
    path: Path
    interval: float = 0.2
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> SecretFileMirror:
        self._thread = threading.Thread(target=self._run, name=f"mirror-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                secret = k8s.get(self.api, "v1", "Secret", self.namespace, self.name)
            except k8s.ApiError:
                continue
            value = ((secret or {}).get("data") or {}).get(self.key)
            content = base64.b64decode(value) if value else b""
            if not self.path.exists() or self.path.read_bytes() != content:
                staged = self.path.with_name(f".{self.path.name}.new")
                staged.write_bytes(content)
                staged.chmod(0o644)
                staged.replace(self.path)
