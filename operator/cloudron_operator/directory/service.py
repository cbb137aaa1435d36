"""The directory kept converged: one thread per operator that syncs every ldap Addon's server with
the users and apps in the store, whenever a user or a password changes, when a server lost its data
(checked every few seconds: one search), and at the resync interval. An app's own pass writes that
app's view itself (`sync_app`), so a new app finds its users at its first start.

All writes of the process to the directory servers go through one lock: a pass's view and a full
sync never interleave their reads and writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.builders.secrets import addon_secret_name
from cloudron_operator.directory.dit import (
    APPS_DN,
    DirectoryApp,
    DirectoryUser,
    app_entries,
    base_entries,
    bind_dn,
    desired_dit,
    view_dn,
)
from cloudron_operator.directory.state import UserProblem, directory_app, directory_users
from cloudron_operator.directory.sync import (
    DirectoryError,
    DirectoryLogin,
    connected,
    converge,
    delete_subtree,
    ensure,
    exists,
)
from cloudron_operator.store import Store

logger = logging.getLogger(__name__)

CHECK_SECONDS: Final = 5.0  # how often a server is asked whether it still has its data
DEBOUNCE_SECONDS: Final = 0.2  # changes that come together are synced together

LoginOf = Callable[[AddonRecord], DirectoryLogin]
StatusWriter = Callable[[list[DirectoryUser], dict[str, UserProblem]], None]


@dataclass
class Directory:
    store: Store
    login_of: LoginOf
    full_sync_seconds: float
    write_user_statuses: StatusWriter | None = None
    paused: Callable[[], bool] = lambda: False  # another replica is active (peering): it syncs
    addons: dict[str, AddonRecord] = field(default_factory=dict)  # the ldap Addons seen, by name
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _dirty: bool = True
    _last_full: dict[str, float] = field(default_factory=dict)
    _reported: dict[str, str] = field(default_factory=dict)  # the last failure logged, by Addon

    def remember(self, addon: AddonRecord) -> None:
        """An ldap Addon the operator checked or provisioned in: from now on it is kept synced."""
        if self.addons.get(addon.name) != addon:
            self.addons[addon.name] = addon
            self.request()

    def forget(self, name: str) -> None:
        """The Addon is gone: its server is no longer synced."""
        self.addons.pop(name, None)
        self._last_full.pop(name, None)

    def request(self) -> None:
        """Something the directory is made of changed: sync soon."""
        self._dirty = True
        self._wake.set()

    def users(self) -> tuple[list[DirectoryUser], dict[str, UserProblem]]:
        hashes = {seen.username: seen.hash for seen in self.store.passwords.values() if seen.username}
        return directory_users((seen.record for seen in self.store.users.values()), hashes)

    def apps_of(self, addon: AddonRecord) -> list[DirectoryApp]:
        """The apps whose ldap addon is in `addon`: their ldap Secret exists, and their status names
        this Addon, or their spec does (its first pass is under way), or neither and it is the default."""
        found = []
        for seen in self.store.apps.values():
            meta = seen.app["metadata"]
            chosen = _chosen_addon(seen.app)
            if chosen != addon.name and not (chosen is None and addon.default):
                continue
            secret = self.store.child(meta["namespace"], "Secret", _ldap_secret(meta["name"]))
            if secret is None or secret.app_uid != seen.uid:
                continue
            app = directory_app(seen.uid, seen.app.get("spec") or {}, secret.data)
            if app is not None:
                found.append(app)
        return found

    def sync_app(self, addon: AddonRecord, app: DirectoryApp) -> None:
        """Write the app's bind account and view now (the base entries too, if missing)."""
        self.remember(addon)
        users, _ = self.users()
        with self._lock, connected(self.login_of(addon)) as connection:
            if not exists(connection, APPS_DN):
                ensure(connection, base_entries())
            converge(connection, app_entries(app, users), scopes=(bind_dn(app.key), view_dn(app.key)))

    def drop_app(self, addon: AddonRecord, key: str) -> None:
        with self._lock, connected(self.login_of(addon)) as connection:
            delete_subtree(connection, view_dn(key))
            delete_subtree(connection, bind_dn(key))

    def sync(self, addon: AddonRecord) -> None:
        """The whole DIT of the Addon's server: every entry not desired goes.

        The desired tree is computed under the lock: an app whose pass is writing its view now has
        its Secret in the store already, so this sync, which waits for that pass, keeps the view.
        """
        started = time.monotonic()
        with self._lock, connected(self.login_of(addon)) as connection:
            users, problems = self.users()
            result = converge(connection, desired_dit(users, self.apps_of(addon)))
        self._last_full[addon.name] = time.monotonic()
        if result.writes:
            logger.info(
                "directory %s: %d entries added, %d changed, %d deleted in %.2fs",
                addon.name, result.added, result.modified, result.deleted, time.monotonic() - started,
            )  # fmt: skip
        if self.write_user_statuses is not None:
            self.write_user_statuses(users, problems)

    def start(self) -> None:
        threading.Thread(target=self._run, name="directory", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(CHECK_SECONDS)
            if self._stop.is_set():
                return
            self._wake.clear()
            time.sleep(DEBOUNCE_SECONDS)
            if self.paused():
                continue
            dirty, self._dirty = self._dirty, False
            for addon in list(self.addons.values()):
                try:
                    if dirty or self._due(addon) or not self._has_data(addon):
                        self.sync(addon)
                    self._reported.pop(addon.name, None)
                except DirectoryError as error:
                    # Once per new failure: the Addon's Ready condition says it on every check.
                    if self._reported.get(addon.name) != str(error):
                        logger.warning(
                            "directory %s: %s; trying again every %.0fs", addon.name, error, CHECK_SECONDS
                        )
                        self._reported[addon.name] = str(error)
                    self._dirty = True
                except Exception:
                    logger.exception("directory %s: the sync failed", addon.name)
                    self._dirty = True

    def _due(self, addon: AddonRecord) -> bool:
        return time.monotonic() - self._last_full.get(addon.name, 0.0) >= self.full_sync_seconds

    def _has_data(self, addon: AddonRecord) -> bool:
        with connected(self.login_of(addon)) as connection:
            return exists(connection, APPS_DN)


def _chosen_addon(app: Mapping[str, Any]) -> str | None:
    recorded = ((app.get("status") or {}).get("addons") or {}).get("ldap")
    if isinstance(recorded, Mapping) and recorded.get("addon"):
        return str(recorded["addon"])
    selected = ((app.get("spec") or {}).get("addons") or {}).get("ldap")
    if isinstance(selected, Mapping) and selected.get("addonRef"):
        return str(selected["addonRef"])
    return None


def _ldap_secret(app_name: str) -> str:
    return addon_secret_name(app_name, "ldap")
