"""A CloudronApp API served only after the operator started (its CRD installed by the same
`helm install`, or later): the operator starts again, in the same process, once it is served.

kopf looks the API up at start and again only on a CRD watch event; the last event of a new CRD
(Established) can come before the API server's discovery lists the kind, and kopf then never
watches it. The store sees the kind served; stopping kopf and starting the program anew makes
kopf's first look find it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Final

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.resources import Kind

logger = logging.getLogger(__name__)

POLL_SECONDS: Final = 2.0


@dataclass
class RestartWhenServed:
    """Once the kind is served: stop kopf as a SIGTERM does, and then start the program anew."""

    requested: bool = False

    def watch(self, api: client.ApiClient, kind: Kind, namespace: str | None) -> None:
        """Poll, in a daemon thread, until the API server serves `kind`; then stop kopf."""
        thread = threading.Thread(
            target=self._poll, args=(api, kind, namespace), name="late CRD", daemon=True
        )
        thread.start()

    def _poll(self, api: client.ApiClient, kind: Kind, namespace: str | None) -> None:
        reported = ""  # the last failure logged: the same one every 2 s is not news
        while True:
            time.sleep(POLL_SECONDS)
            try:
                k8s.request(api, "GET", kind.path(namespace), query=[("limit", "1")])
            except k8s.ApiError as error:
                if not error.not_found and str(error) != reported:
                    logger.warning("checking whether %s is served failed: %s", kind.kind, error)
                    reported = str(error)
                continue
            logger.warning(
                "the %s API is served now, after the operator started: starting again so that kopf "
                "watches it",
                kind.kind,
            )
            self.requested = True
            # kopf's own stop on a signal: its handlers end, its cleanup runs, kopf.run returns.
            os.kill(os.getpid(), signal.SIGTERM)
            return

    def start_again(self) -> None:
        """Replace the process with the same program and arguments, if a restart was requested."""
        if self.requested:
            os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own program
