"""Hypothesis strategies: CloudronApp, Addon and CloudronUser objects and CloudronManifest.json documents.

Every object comes at one of three levels, so that a run covers each way input goes wrong:

- valid: a real manifest of the corpus (read in place) or a synthetic one, in a spec the CRD accepts;
  free text the API allows anywhere (env values, scheduler commands, paths, addon options, store
  metadata, display names) is drawn from the injection attempts and odd unicode below, so the
  strings that reach SQL, LDAP and shells are the hostile ones;
- near-valid: a valid object with one plausible slip at a random place (a wrong type, a number out
  of range, null, an empty value, a missing field);
- hostile: a valid object with one to three values replaced by injection attempts, huge strings,
  deep nesting or unicode, anywhere (names, domains, env names, the manifest, options).

Whatever an accepted Addon makes the operator connect to is on loopback: a host the API server would
accept is replaced by a loopback address and a port by one of `FuzzContext.ports` (`loopback_only`).
The operator reaches nothing else from user input (it resolves no app domain and pulls no image).
"""

from __future__ import annotations

import copy
import functools
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from cloudron_operator.manifest.lenient_json import JsonSyntaxError, read_json
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import API_VERSION, AddonType
from cloudron_operator.models.types import DNS_SUBDOMAIN_PATTERN, FQDN_PATTERN, HOST_PATTERN
from cloudron_operator.models.user import NAME_PATTERN
from tests.paths import corpus_files

T = TypeVar("T")
Kind = Literal["CloudronApp", "Addon", "CloudronUser"]
Level = Literal["valid", "near-valid", "hostile"]
KINDS: Final[tuple[Kind, ...]] = ("CloudronApp", "Addon", "CloudronUser")
LEVELS: Final[tuple[Level, ...]] = ("valid", "near-valid", "hostile")

# What an injection that worked would leave behind: a file, a dropped table.
CANARY_PREFIX: Final = "fuzz-canary-"
CANARY_FILE: Final = f"/tmp/{CANARY_PREFIX}shell"  # noqa: S108 - the canary is meant to be findable
CANARY_TABLE: Final = "fuzz_canary"

SHELL_INJECTIONS: Final = (
    f"$(touch {CANARY_FILE})",
    f"`touch {CANARY_FILE}`",
    f"; touch {CANARY_FILE}",
    f"| touch {CANARY_FILE}",
    f"&& touch {CANARY_FILE}",
    f"\ntouch {CANARY_FILE}\n",
    f"'; touch {CANARY_FILE}; '",
    f'"; touch {CANARY_FILE}; "',
    f"${{IFS}}touch${{IFS}}{CANARY_FILE}",
    f"x; rm -rf /tmp/{CANARY_PREFIX}never-there",
)
SQL_INJECTIONS: Final = (
    f"x'; DROP TABLE {CANARY_TABLE}; --",
    f'x"; DROP TABLE {CANARY_TABLE}; --',
    f"x`; DROP DATABASE {CANARY_TABLE}; -- ",
    f"\\'; DROP TABLE {CANARY_TABLE}; --",
    f"C.UTF-8'; DROP TABLE {CANARY_TABLE}; --",
    "' OR '1'='1",
    "x%' OR 1=1 #",
    "x' host=127.0.0.1 dbname=postgres",  # libpq conninfo
    "root'@'%",
)
LDAP_INJECTIONS: Final = (
    "*)(uid=*))(|(uid=*",
    "admin)(|(objectClass=*)",
    "*",
    "cn=admin,dc=cloudron",
    "x,ou=people,dc=cloudron",
    "x+cn=y",
    "\\2a\\00",
    "#x",
    " leading and trailing ",
)
OTHER_HOSTILE: Final = (
    "$(CLOUDRON_POSTGRESQL_PASSWORD)",
    "${HOME}",
    "{{ .Values.secret }}",
    "%(password)s%s%n",
    "../../etc/passwd",
    "\x00",
    "nul\x00byte",
    "\x1b[31mred\x1b[0m",
    "\r\nX-Injected: 1",
    "\u202eevil",
    "zero\u200bwidth",
    "e\u0301\u0301\u0301",
    "日本語のテキスト",
    "🦄🦄",
    "\ud800",  # a lone surrogate: no text holds one
    "\ufeff",
    "",
    " ",
    "null",
    "true",
    "-1",
    "1e309",
    "<script>alert(1)</script>",
    "key: value\n- item: [",
)
INJECTIONS: Final = SHELL_INJECTIONS + SQL_INJECTIONS + LDAP_INJECTIONS + OTHER_HOSTILE
DEEPEST: Final = 50_000  # the recursion limit that handles them (`allow_deep`)
HUGE_BYTES: Final = (5_000, 60_000, 200_000)  # below etcd's 1.5 MiB per object, once each
HUGE_UNITS: Final = ("A", "é", "🦄", "'", "$(", "\\", "%", "\u202e")
LOOPBACK_HOSTS: Final = ("127.0.0.1", "127.0.0.2", "::1")
SERVED_ADDONS: Final = (
    "postgresql",
    "mysql",
    "redis",
    "ldap",
    "sendmail",
    "localstorage",
    "scheduler",
    "tls",
)
OTHER_ADDONS: Final = ("turn", "oidc", "proxyAuth", "docker", "mongodb", "recvmail", "email")


@dataclass(frozen=True)
class FuzzContext:
    """What the objects may point at: the run's namespace, the Addons apps name per type, and for
    generated Addons the loopback ports they may use and the admin Secrets they may name."""

    namespace: str
    addon_refs: Mapping[str, str] = field(default_factory=dict)  # addon type -> Addon name
    ports: Mapping[str, int] = field(default_factory=dict)  # addon type -> its real server's port
    closed_port: int = 9  # a loopback port nothing answers on
    secret_refs: Sequence[Mapping[str, str]] = ()  # adminSecretRef values that exist


@dataclass(frozen=True)
class FuzzObject:
    kind: Kind
    level: Level
    body: dict[str, Any]
    mutations: tuple[str, ...] = ()  # what was changed from a valid object, for the report

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name"))


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each drawn in proportion to its weight."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


# --- values -------------------------------------------------------------------------------------------


def huge_text() -> st.SearchStrategy[str]:
    """One character (or two) repeated to a given size in UTF-8: built, not drawn, so it can be large."""
    return st.builds(
        lambda unit, size: unit * max(1, size // len(unit.encode("utf-8", "surrogatepass"))),
        st.sampled_from(HUGE_UNITS),
        st.sampled_from(HUGE_BYTES),
    )


def deep_nesting() -> st.SearchStrategy[Any]:
    """A dict or list nested 10 to 300 deep, or deeper than Python decodes by default (1000)."""

    def nest(depth: int, as_list: bool) -> Any:
        allow_deep()  # such a value is copied and encoded by recursive code
        value: Any = "bottom"
        for _ in range(depth):
            value = [value] if as_list else {"a": value}
        return value

    depths = weighted((6, st.integers(10, 300)), (1, st.sampled_from([1_000, 3_000, 9_000])))
    return st.builds(nest, depths, st.booleans())


def depth(value: Any) -> int:
    """How deep dicts and lists nest in `value` (without recursion: it may be deeper than Python's limit)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending += [(child, level + 1) for child in children]
    return deepest


def hostile_text() -> st.SearchStrategy[str]:
    return weighted(
        (6, st.sampled_from(INJECTIONS)),
        (2, st.text(max_size=24)),
        (2, st.tuples(st.text(max_size=8), st.sampled_from(INJECTIONS)).map("".join)),
        (1, huge_text()),
    )


def free_text() -> st.SearchStrategy[str]:
    """Text where any text is allowed: mostly plain, often hostile."""
    return weighted((2, st.text(max_size=20)), (3, hostile_text().filter(lambda s: len(s) < 20_000)))


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        free_text(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(free_text().filter(bool), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def near_valid_values() -> st.SearchStrategy[Any]:
    """A plausible slip: the wrong type, a boundary number, null, empty."""
    return st.one_of(
        st.sampled_from(
            [None, "", [], {}, 0, -1, 65536, 2**31, 2**63, "80", "yes", 1.5, True, "1Gi", "v1.0"]
        ),
        st.integers(-(2**64), 2**64),
        st.text(max_size=6),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def hostile_values() -> st.SearchStrategy[Any]:
    return weighted((6, hostile_text()), (1, deep_nesting()), (1, json_values()))


_LABEL: Final = r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?"


def dns_labels() -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A{_LABEL}\Z")


def dns_names(max_labels: int = 3) -> st.SearchStrategy[str]:
    """A name the API server takes as metadata.name (a DNS subdomain), sometimes close to its limits."""
    long = st.integers(60, 240).map(lambda n: ("a" * n)[:n])
    return weighted(
        (6, st.lists(dns_labels(), min_size=1, max_size=max_labels).map(".".join)),
        (1, st.tuples(dns_labels(), long).map("-".join)),
    )


def domains() -> st.SearchStrategy[str]:
    return st.lists(dns_labels(), min_size=2, max_size=4).map(".".join).filter(lambda d: len(d) <= 200)


def env_names() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z").filter(lambda n: not n.startswith("CLOUDRON_"))


def directory_names() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?\Z")


def semvers() -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, 20), st.integers(0, 99), st.integers(0, 999)).map(
        lambda v: ".".join(map(str, v))
    )


def crons() -> st.SearchStrategy[str]:
    return st.sampled_from(["*/5 * * * *", "0 3 * * *", "@hourly", "@daily", "15 2 1 jan *", "0 0 * * 7"])


# --- manifests ----------------------------------------------------------------------------------------


@functools.cache
def corpus_manifests() -> tuple[dict[str, Any], ...]:
    """The corpus's manifests that the operator's validator accepts, read in place (tests/paths.py)."""
    found = []
    for path in corpus_files():
        try:
            document = read_json(path.read_text(encoding="utf-8")).value
        except (JsonSyntaxError, UnicodeDecodeError):
            continue
        if isinstance(document, dict) and validate_manifest(document).manifest is not None:
            found.append(document)
    return tuple(found)


def corpus_manifest() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(range(len(corpus_manifests()))).map(lambda i: copy.deepcopy(corpus_manifests()[i]))


def _paths(prefix: str) -> st.SearchStrategy[list[str]]:
    """Absolute paths under `prefix` with a hostile last part (the shell sees these in the seed script)."""
    part = weighted(
        (3, st.sampled_from(SHELL_INJECTIONS)), (1, dns_labels()), (1, st.text(min_size=1, max_size=8))
    )
    clean = part.map(lambda p: p.strip("/").replace("/./", "/").replace("/../", "/") or "x")
    return st.lists(clean.map(lambda p: f"{prefix}/{p}"), max_size=3, unique=True)


def _addon_options(name: str) -> st.SearchStrategy[dict[str, Any]]:
    if name == "postgresql":
        locale = weighted((2, st.sampled_from(["C", "C.UTF-8"])), (3, st.sampled_from(SQL_INJECTIONS)))
        return st.one_of(st.just({}), st.builds(lambda v: {"locale": v}, locale))
    if name == "mysql":
        return st.one_of(st.just({}), st.builds(lambda v: {"multipleDatabases": v}, st.booleans()))
    if name == "scheduler":
        task = st.builds(lambda s, c: {"schedule": s, "command": c}, crons(), hostile_text().filter(bool))
        names = st.from_regex(r"\A[a-zA-Z0-9_]{1,30}\Z")
        return st.dictionaries(names, task, min_size=1, max_size=3)
    if name == "oidc":
        return st.just({"loginRedirectUri": "/callback"})
    return st.one_of(st.just({}), st.dictionaries(free_text().filter(bool), json_values(3), max_size=2))


@st.composite
def synthetic_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest the validator accepts, with hostile text in every place that takes text."""
    manifest: dict[str, Any] = {
        "manifestVersion": draw(st.sampled_from([1, 2])),
        "version": draw(semvers()),
        "httpPort": draw(st.integers(1, 65535)),
        "healthCheckPath": draw(st.sampled_from(["/", "/healthz", "/api/health?x=1"])),
    }
    names = draw(st.sets(st.sampled_from(SERVED_ADDONS), max_size=4))
    if draw(weighted((9, st.just(False)), (1, st.just(True)))):  # one the run serves not, now and then
        names.add(draw(st.sampled_from(OTHER_ADDONS)))
    manifest["addons"] = {name: draw(_addon_options(name)) for name in sorted(names)}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "runtimeDirs": _paths("/app/code"),
        "persistentDirs": _paths("/var/lib"),
        "logPaths": _paths("/run/app"),
        "title": free_text(),
        "tagline": free_text(),
        "postInstallMessage": free_text(),
        "checklist": st.dictionaries(
            st.from_regex(r"\A[a-z0-9_-]{1,10}\Z"),
            st.builds(lambda m: {"message": m}, free_text()),
            max_size=2,
        ),
        "memoryLimit": st.one_of(st.integers(1, 2**34), st.sampled_from(["512mb", "1 GB", "300MB"])),
        "optionalSso": st.booleans(),
        "multiDomain": st.booleans(),
        "upstreamVersion": free_text(),
        draw(free_text().filter(lambda k: bool(k) and k[0].islower())): json_values(3),
    }
    for key in sorted(draw(st.sets(st.sampled_from(sorted(optional)), max_size=5))):
        manifest[key] = draw(optional[key])
    return manifest


def manifests() -> st.SearchStrategy[dict[str, Any]]:
    return weighted((3, corpus_manifest()), (2, synthetic_manifests()))


# --- the objects --------------------------------------------------------------------------------------


@st.composite
def valid_apps(draw: st.DrawFn, context: FuzzContext) -> dict[str, Any]:
    manifest = draw(manifests())
    spec: dict[str, Any] = {
        "image": draw(
            st.sampled_from(["registry.example.com/app:1.0.0", "ghcr.io/o/app@sha256:" + "a" * 64])
        ),
        "domain": draw(domains()),
        "manifest": manifest,
    }
    wanted = manifest.get("addons") or {}
    refs = {t: {"addonRef": name} for t, name in context.addon_refs.items() if t in wanted}
    if refs:
        spec["addons"] = refs
    optional: dict[str, st.SearchStrategy[Any]] = {
        "env": st.dictionaries(env_names(), free_text(), max_size=4),
        "memoryLimit": st.sampled_from(["512Mi", "1Gi", 2**30]),
        "running": st.booleans(),
        "aliases": st.lists(domains(), max_size=2, unique=True),
        "redirects": st.lists(domains(), max_size=2, unique=True),
        "access": st.builds(
            lambda users, groups: {"users": users, "groups": groups},
            st.lists(directory_names(), max_size=3, unique=True),
            st.lists(directory_names(), max_size=2, unique=True),
        ),
        "checklistDone": st.lists(st.from_regex(r"\A[a-z0-9_-]{1,10}\Z"), max_size=2, unique=True),
        "storage": st.builds(lambda policy: {"whenDeleted": policy}, st.sampled_from(["Delete", "Retain"])),
    }
    for key in sorted(draw(st.sets(st.sampled_from(sorted(optional)), max_size=4))):
        spec[key] = draw(optional[key])
    aliases = set(spec.get("aliases", ()))
    spec["aliases"] = [a for a in spec.get("aliases", ()) if a != spec["domain"]]
    spec["redirects"] = [r for r in spec.get("redirects", ()) if r != spec["domain"] and r not in aliases]
    metadata = {"name": draw(dns_names()), "namespace": context.namespace}
    return {"apiVersion": API_VERSION, "kind": "CloudronApp", "metadata": metadata, "spec": spec}


@st.composite
def valid_addons(draw: st.DrawFn, context: FuzzContext) -> dict[str, Any]:
    addon_type = draw(st.sampled_from([t.value for t in AddonType]))
    spec: dict[str, Any] = {"type": addon_type}
    if draw(st.booleans()):
        spec["default"] = draw(st.booleans())
    if addon_type != "redis" or draw(st.booleans()):
        ports = [context.closed_port, *context.ports.values()]
        connection: dict[str, Any] = {
            "host": draw(st.sampled_from(LOOPBACK_HOSTS)),
            "port": context.ports.get(addon_type) or draw(st.sampled_from(ports)),
        }
        missing = {"name": "fz-missing", "namespace": context.namespace}
        connection["adminSecretRef"] = dict(draw(st.sampled_from([*context.secret_refs, missing])))
        spec["connection"] = connection
    known = ["adminUser", "issuer", "idTokenAlgorithm", "adminTls", "providerName", "tlsPort", "fromDomain"]
    known += ["image", "memoryLimit", "storageSize", "storageClassName", "noPassword", "appLoginsSecretRef"]
    keys = weighted((3, st.sampled_from(known)), (1, free_text().filter(bool)))
    values = weighted((3, hostile_text()), (2, json_values(4)))
    spec["options"] = draw(st.dictionaries(keys, values, max_size=4))
    name = draw(dns_names(max_labels=2))
    return {"apiVersion": API_VERSION, "kind": "Addon", "metadata": {"name": name}, "spec": spec}


@st.composite
def valid_users(draw: st.DrawFn) -> dict[str, Any]:
    username = draw(directory_names())
    local = weighted((2, st.from_regex(r"\A[a-z0-9.]{1,10}\Z")), (3, st.sampled_from(INJECTIONS)))
    spec: dict[str, Any] = {"username": username, "email": draw(local) + "@example.com"}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "displayName": free_text().filter(lambda s: len(s) <= 256),
        "groups": st.lists(directory_names(), max_size=3, unique=True),
        "role": st.sampled_from(["user", "usermanager", "admin", "owner"]),
        "active": st.booleans(),
        "fallbackEmail": local.map(lambda s: s + "@other.example.org"),
    }
    for key in sorted(draw(st.sets(st.sampled_from(sorted(optional)), max_size=4))):
        spec[key] = draw(optional[key])
    return {"apiVersion": API_VERSION, "kind": "CloudronUser", "metadata": {"name": username}, "spec": spec}


# --- mutations ----------------------------------------------------------------------------------------

Path = tuple[str | int, ...]
FIXED: Final = {("apiVersion",), ("kind",), ("metadata",), ("metadata", "namespace")}


@dataclass(frozen=True)
class FuzzMutation:
    body: dict[str, Any]
    changes: tuple[str, ...]


def paths_of(value: Any, deepest: int = 12) -> list[Path]:
    """Every path to a value inside `value` (keys of dicts, indices of lists) down to `deepest` levels."""
    found: list[Path] = []
    pending: list[tuple[Path, Any]] = [((), value)]
    while pending and len(found) < 5000:
        prefix, item = pending.pop()
        if len(prefix) >= deepest:
            continue
        items = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in items:
            found.append((*prefix, key))
            pending.append(((*prefix, key), child))
    return found


def _parent(body: dict[str, Any], path: Path) -> Any:
    parent: Any = body
    for key in path[:-1]:
        parent = parent[key]
    return parent


@st.composite
def mutated(
    draw: st.DrawFn, body: dict[str, Any], values: st.SearchStrategy[Any], count: int
) -> FuzzMutation:
    """`body` with `count` changes at random places: a value replaced, a key removed or added, a
    string lengthened with a hostile tail."""
    body = copy.deepcopy(body)
    done: list[str] = []
    for _ in range(count):
        candidates = [p for p in paths_of(body) if p not in FIXED]
        # The top of the spec and the metadata are few among the manifest's many paths: half the
        # changes go there.
        top = [p for p in candidates if len(p) <= 3 and p[0] in ("metadata", "spec")]
        at_top = bool(top) and draw(st.booleans())
        path: Path = draw(st.sampled_from(top if at_top else candidates))
        parent = _parent(body, path)
        operation = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add", "append"]))
        if operation == "remove" and path != ("metadata", "name"):
            del parent[path[-1]]
        elif operation == "add" and isinstance(parent[path[-1]], dict):
            key = draw(weighted((2, st.sampled_from(INJECTIONS)), (1, st.text(max_size=10))))
            parent[path[-1]][key] = draw(values)
            path = (*path, key)
        elif operation == "append" and isinstance(parent[path[-1]], str):
            parent[path[-1]] += draw(st.sampled_from(INJECTIONS))
        else:
            operation = "replace"
            parent[path[-1]] = draw(values)
        done.append(f"{operation} {_dotted(path)}")
    return FuzzMutation(body, tuple(done))


def _dotted(path: Path) -> str:
    text = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path)
    return text if len(text) <= 120 else text[:117] + "..."


# --- what a run draws ---------------------------------------------------------------------------------


@st.composite
def fuzz_objects(draw: st.DrawFn, context: FuzzContext) -> FuzzObject:
    """One object of any kind at any level; Addons are made safe to connect to (`loopback_only`)."""
    kind: Kind = draw(
        weighted((12, st.just("CloudronApp")), (5, st.just("Addon")), (3, st.just("CloudronUser")))
    )
    level: Level = draw(weighted((4, st.just("valid")), (3, st.just("near-valid")), (3, st.just("hostile"))))
    makers: dict[Kind, st.SearchStrategy[dict[str, Any]]] = {
        "CloudronApp": valid_apps(context),
        "Addon": valid_addons(context),
        "CloudronUser": valid_users(),
    }
    body = draw(makers[kind])
    changes: tuple[str, ...] = ()
    if level != "valid":
        values = near_valid_values() if level == "near-valid" else hostile_values()
        count = 1 if level == "near-valid" else draw(st.integers(1, 3))
        mutation = draw(mutated(body, values, count))
        body, changes = mutation.body, mutation.changes
    if kind == "Addon":
        body = loopback_only(body, context)
    return FuzzObject(kind, level, body, changes)


def loopback_only(body: dict[str, Any], context: FuzzContext) -> dict[str, Any]:
    """The Addon with any host the API server would accept on loopback, and any port it would accept
    one of the run's: the operator connects to whatever an accepted Addon names."""
    spec = body.get("spec")
    connection = spec.get("connection") if isinstance(spec, dict) else None
    if not isinstance(connection, dict):
        return body
    body = copy.deepcopy(body)
    connection = body["spec"]["connection"]
    host = connection.get("host")
    if isinstance(host, str) and re.fullmatch(HOST_PATTERN, host) and host not in LOOPBACK_HOSTS:
        connection["host"] = LOOPBACK_HOSTS[0]
    port = connection.get("port")
    allowed = {context.closed_port, *context.ports.values()}
    if _is_port(port) and port not in allowed:
        connection["port"] = context.closed_port
    return body


def _is_port(value: Any) -> bool:
    # What the API server reads as an integer in 1..65535 (an integral float is one too).
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer() and 1 <= value <= 65535


def regressions(context: FuzzContext) -> list[FuzzObject]:
    """An object for each bug the fuzzing found, so that every run (the fast slice too) has them."""
    manifest = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000, "healthCheckPath": "/"}

    def app(name: str, level: Level, extra: dict[str, Any], **spec: Any) -> FuzzObject:
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "CloudronApp",
            "metadata": {"name": name, "namespace": context.namespace},
            "spec": {"image": "registry.example.com/app:1.0.0", "domain": f"{name}.example.com", **spec},
        }
        body["spec"]["manifest"] = {**manifest, **extra}
        return FuzzObject("CloudronApp", level, body, (f"regression: {name}",))

    def user(name: str, **spec: Any) -> FuzzObject:
        body = {
            "apiVersion": API_VERSION,
            "kind": "CloudronUser",
            "metadata": {"name": name},
            "spec": {"username": name, "email": f"{name}@example.com", **spec},
        }
        return FuzzObject("CloudronUser", "hostile", body, (f"regression: {name}",))

    allow_deep()
    deep: Any = "bottom"
    for _ in range(9_000):
        deep = {"a": deep}
    sunday = {"weekly": {"schedule": "0 0 * * 7", "command": SHELL_INJECTIONS[0]}}
    return [
        app("deep-manifest", "hostile", {"screenshot": deep}),  # the operator's watch failed, it exited
        app("addons-not-an-object", "near-valid", {"addons": 5}),  # its deletion never ended
        app("sunday-as-7", "valid", {"addons": {"scheduler": sunday}}),  # its CronJob was refused
        app("c1-controls", "valid", {}, env={"NOTE": "del\x7f nel\x85 bom\ufeff"}),  # its apply was refused
        user("non-ascii-mail", email="josé@example.com"),  # it stopped every directory sync
        user("leading-space", displayName=" Ada"),  # an empty givenName stopped the syncs too
    ]


# --- unique names, as the API server needs them -------------------------------------------------------

MAX_NAME: Final = 253
MAX_USERNAME: Final = 32


def uniquified(obj: FuzzObject, index: int) -> FuzzObject:
    """The object with a name (and domain, username) no other object of the run has, where the
    generated one is valid: two runs' objects would otherwise collide (409) or share a host."""
    body = copy.deepcopy(obj.body)
    metadata = body.get("metadata")
    tag = f"f{index}"
    if isinstance(metadata, dict):
        name = metadata.get("name")
        if obj.kind == "CloudronUser":
            spec = body.get("spec")
            username = spec.get("username") if isinstance(spec, dict) else None
            if isinstance(spec, dict) and _matches(NAME_PATTERN, username):
                spec["username"] = _tagged(tag, str(username), MAX_USERNAME, NAME_PATTERN)
            if isinstance(spec, dict) and name == username:  # the usual user: named after the username
                metadata["name"] = spec["username"]
            elif _matches(DNS_SUBDOMAIN_PATTERN, name):
                metadata["name"] = _tagged(tag, str(name), MAX_NAME, DNS_SUBDOMAIN_PATTERN)
        elif _matches(DNS_SUBDOMAIN_PATTERN, name):
            metadata["name"] = _tagged(tag, str(name), MAX_NAME, DNS_SUBDOMAIN_PATTERN)
    spec = body.get("spec")
    if obj.kind == "CloudronApp" and isinstance(spec, dict) and _matches(FQDN_PATTERN, spec.get("domain")):
        spec["domain"] = _tagged(tag + ".", str(spec["domain"]), MAX_NAME, FQDN_PATTERN, joiner="")
    return FuzzObject(obj.kind, obj.level, body, obj.mutations)


def _matches(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _tagged(tag: str, value: str, limit: int, pattern: str, joiner: str = "-") -> str:
    candidate = (tag + joiner + value)[:limit].rstrip("-.")
    return candidate if re.fullmatch(pattern, candidate) else tag


# --- drawing many at once ------------------------------------------------------------------------------


def allow_deep() -> None:
    """Raise Python's recursion limit in this process so that it copies, encodes and decodes the
    deepest values the strategies make (`deep_nesting`); the operator keeps its own default."""
    if sys.getrecursionlimit() < DEEPEST:
        sys.setrecursionlimit(DEEPEST)


def generate(strategy: st.SearchStrategy[T], count: int, seed: int) -> list[T]:
    """`count` values of `strategy`, the same for the same seed: hypothesis draws them as the
    examples of a property that keeps them (no shrinking, no example database)."""
    allow_deep()
    found: list[T] = []
    attempt = 0
    while len(found) < count:

        @settings(
            max_examples=count - len(found),
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(seed * 1000 + attempt)
        @given(strategy)
        def keep(value: T) -> None:
            found.append(value)

        keep()
        attempt += 1
    return found[:count]


def batches(objects: Sequence[T], size: int) -> list[Sequence[T]]:
    return [objects[i : i + size] for i in range(0, len(objects), size)]
