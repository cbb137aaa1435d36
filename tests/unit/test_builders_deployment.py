"""The Deployment: env contract, ports, memory, filesystem, probes, privileges, restarts on new secrets."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.builders.deployment import build_deployment
from cloudron_operator.builders.memory import format_bytes, quantity_bytes
from cloudron_operator.config import OperatorConfig
from cloudron_operator.models import CloudronAppSpec
from tests.builder_cases import BASE_MANIFEST, CONFIG, PORT, UID, identity, manifest_of, spec

pytestmark = pytest.mark.unit

PORTS_MANIFEST = {
    **BASE_MANIFEST,
    "tcpPorts": {
        "SSH_PORT": {**PORT, "defaultValue": 2222, "containerPort": 22},
        "GIT_PORT": {**PORT, "defaultValue": 9418},
        "NO_DEFAULT_PORT": PORT,
        "OFF_PORT": {**PORT, "defaultValue": 7000, "enabledByDefault": False},
        "RANGE_PORT": {**PORT, "defaultValue": 40000, "portCount": 100},
    },
    "udpPorts": {"DNS_PORT": {**PORT, "defaultValue": 5353}},
}
SECRETS = {
    "wiki-postgresql": {"CLOUDRON_POSTGRESQL_PASSWORD": "b25l"},
    "wiki-redis": {"CLOUDRON_REDIS_PASSWORD": "dHdv"},
}


def deployment(
    app_spec: CloudronAppSpec,
    config: OperatorConfig = CONFIG,
    addon_secrets: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    return build_deployment(identity(), app_spec, manifest_of(app_spec), config, addon_secrets or {})


def pod(app_spec: CloudronAppSpec, **kwargs: Any) -> dict[str, Any]:
    pod_spec: dict[str, Any] = deployment(app_spec, **kwargs)["spec"]["template"]["spec"]
    return pod_spec


def app_container(app_spec: CloudronAppSpec, **kwargs: Any) -> dict[str, Any]:
    container: dict[str, Any] = pod(app_spec, **kwargs)["containers"][0]
    return container


def env(app_spec: CloudronAppSpec, **kwargs: Any) -> dict[str, str]:
    return {var["name"]: var["value"] for var in app_container(app_spec, **kwargs)["env"]}


def test_the_runtime_variables_of_a_manifest_version_2_app() -> None:
    assert env(spec(domain="wiki.example.com")) == {
        "CLOUDRON": "1",
        "CLOUDRON_APP_ORIGIN": "https://wiki.example.com",
        "CLOUDRON_APP_DOMAIN": "wiki.example.com",
        "CLOUDRON_APP_HOSTNAME": UID,
        "CLOUDRON_API_ORIGIN": "https://my.example.com",
        "CLOUDRON_WEBADMIN_ORIGIN": "https://my.example.com",
        "CLOUDRON_PROXY_IP": "10.42.0.1",
    }


def test_manifest_version_1_apps_get_the_variables_without_the_prefix() -> None:
    names = env(spec({**BASE_MANIFEST, "manifestVersion": 1}))
    assert list(names) == [
        "CLOUDRON",
        "APP_ORIGIN",
        "APP_DOMAIN",
        "APP_HOSTNAME",
        "API_ORIGIN",
        "WEBADMIN_ORIGIN",
        "PROXY_IP",
    ]


def test_origins_the_operator_is_not_configured_with_are_left_out() -> None:
    assert set(env(spec(), config=OperatorConfig())) == {
        "CLOUDRON",
        "CLOUDRON_APP_ORIGIN",
        "CLOUDRON_APP_DOMAIN",
        "CLOUDRON_APP_HOSTNAME",
    }


@pytest.mark.parametrize("flag", ["multiDomain", "aliasableDomain"])
def test_alias_domains_are_listed_for_apps_that_accept_them(flag: str) -> None:
    manifest = {**BASE_MANIFEST, flag: True}
    assert env(spec(manifest, aliases=["a.example.com", "*.b.example.com"]))["CLOUDRON_ALIAS_DOMAINS"] == (
        "a.example.com,*.b.example.com"
    )
    assert env(spec(manifest))["CLOUDRON_ALIAS_DOMAINS"] == ""
    assert "CLOUDRON_ALIAS_DOMAINS" not in env(spec())


def test_each_enabled_port_has_its_external_number_and_disabled_ports_have_no_variable() -> None:
    variables = env(spec(PORTS_MANIFEST, ports={"GIT_PORT": None, "OFF_PORT": 7001}))
    ports = {name: value for name, value in variables.items() if "PORT" in name}
    assert ports == {
        "SSH_PORT": "2222",  # the defaultValue, not the containerPort
        "OFF_PORT": "7001",  # enabledByDefault false, enabled by the spec
        "RANGE_PORT": "40000",
        "RANGE_PORT_COUNT": "100",  # the manifest's portCount: 40000-40099 are the app's
        "DNS_PORT": "5353",
    }


def test_container_ports_are_the_http_port_and_the_enabled_ports_inside_the_pod() -> None:
    assert app_container(spec(PORTS_MANIFEST, ports={"GIT_PORT": None, "RANGE_PORT": None}))["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"containerPort": 22, "protocol": "TCP"},
        {"containerPort": 5353, "protocol": "UDP"},
    ]


def test_a_port_range_lists_each_of_its_container_ports() -> None:
    ports = app_container(spec(PORTS_MANIFEST, ports={"SSH_PORT": None, "GIT_PORT": None, "DNS_PORT": None}))[
        "ports"
    ]
    assert ports[1:] == [{"containerPort": 40000 + i, "protocol": "TCP"} for i in range(100)]


def test_a_container_port_is_listed_once_even_when_two_entries_map_to_it() -> None:
    manifest = {
        **BASE_MANIFEST,
        "tcpPorts": {"ALT_HTTP_PORT": {**PORT, "defaultValue": 8080, "containerPort": 8000}},
    }
    assert app_container(spec(manifest))["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"}
    ]


def test_custom_env_follows_the_platform_variables_in_name_order() -> None:
    variables = list(env(spec(env={"ZED": "z", "ALPHA": "a"})))
    assert variables[-2:] == ["ALPHA", "ZED"]


def test_addon_secrets_are_injected_whole_in_name_order() -> None:
    assert app_container(spec(), addon_secrets=dict(reversed(SECRETS.items())))["envFrom"] == [
        {"secretRef": {"name": "wiki-postgresql"}},
        {"secretRef": {"name": "wiki-redis"}},
    ]
    assert "envFrom" not in app_container(spec())


def secrets_hash(addon_secrets: dict[str, dict[str, str]]) -> str:
    annotations = deployment(spec(), addon_secrets=addon_secrets)["spec"]["template"]["metadata"][
        "annotations"
    ]
    digest: str = annotations["cloudron.io/secrets-hash"]
    return digest


def test_the_pods_restart_when_a_secret_value_changes_and_only_then() -> None:
    same = {name: dict(reversed(data.items())) for name, data in reversed(SECRETS.items())}
    changed = {**SECRETS, "wiki-redis": {"CLOUDRON_REDIS_PASSWORD": "bmV3"}}
    assert secrets_hash(same) == secrets_hash(SECRETS)
    assert secrets_hash(changed) != secrets_hash(SECRETS)
    assert secrets_hash({**SECRETS, "wiki-mysql": {}}) != secrets_hash(SECRETS)


def test_a_stopped_app_has_no_replicas() -> None:
    assert deployment(spec(running=False))["spec"]["replicas"] == 0
    assert deployment(spec())["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("manifest_limit", "spec_limit", "limit", "reserved"),
    [
        (None, None, "256Mi", "128Mi"),  # Cloudron's default
        (64 * 2**20, None, "256Mi", "128Mi"),  # and its floor
        ("1gb", None, "1Gi", "512Mi"),
        ("1gb", "1536Mi", "1536Mi", "768Mi"),  # the spec may raise it
        (None, 2**30, "1Gi", "512Mi"),
    ],
)
def test_memory_is_the_manifests_limit_raised_by_the_spec(
    manifest_limit: int | str | None, spec_limit: int | str | None, limit: str, reserved: str
) -> None:
    manifest = {**BASE_MANIFEST, **({"memoryLimit": manifest_limit} if manifest_limit else {})}
    resources = app_container(spec(manifest, memoryLimit=spec_limit))["resources"]
    assert resources == {"requests": {"memory": reserved}, "limits": {"memory": limit}}


@pytest.mark.parametrize(
    ("quantity", "size"),
    [(1024, 1024), ("512Mi", 512 * 2**20), ("1.5Gi", 3 * 2**29), ("2G", 2 * 10**9), ("1.0001k", 1001)],
)
def test_quantities_are_read_in_bytes(quantity: int | str, size: int) -> None:
    assert quantity_bytes(quantity) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [(3 * 2**30, "3Gi"), (1280 * 2**20, "1280Mi"), (1000 * 1024, "1000Ki"), (10**9, "1000000000")],
)
def test_sizes_are_written_in_the_largest_exact_binary_unit(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_the_root_filesystem_is_read_only_with_scratch_space_and_the_data_volume() -> None:
    container = app_container(spec({**BASE_MANIFEST, "addons": {"localstorage": {}}}))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
        {"name": "run", "mountPath": "/run"},
        {"name": "data", "mountPath": "/app/data"},
    ]
    assert pod(spec({**BASE_MANIFEST, "addons": {"localstorage": {}}}))["volumes"][2] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": "wiki-data"},
    }


def test_without_localstorage_app_data_is_not_writable() -> None:
    assert [mount["mountPath"] for mount in app_container(spec())["volumeMounts"]] == ["/tmp", "/run"]  # noqa: S108


def test_runtime_dirs_are_writable_and_seeded_from_the_image() -> None:
    manifest = {**BASE_MANIFEST, "runtimeDirs": ["/app/code/cache", "/home/cloudron/", "/home/cloudron/.npm"]}
    pod_spec = pod(spec(manifest))
    mounts = pod_spec["containers"][0]["volumeMounts"][2:]
    assert mounts == [
        {"name": "runtime-0", "mountPath": "/app/code/cache"},
        {"name": "runtime-1", "mountPath": "/home/cloudron"},  # its .npm is seeded with it
    ]
    seed, logs = pod_spec["initContainers"]  # seeded before the log follower starts
    assert logs["name"] == "logs"
    assert seed["image"] == "registry.example.com/app:1.0.0"
    assert seed["volumeMounts"] == [
        {"name": "runtime-0", "mountPath": "/seed/0"},
        {"name": "runtime-1", "mountPath": "/seed/1"},
    ]
    assert seed["command"] == [
        "/bin/sh",
        "-c",
        "set -e\n"
        "if [ -d /app/code/cache ]; then cp -a /app/code/cache/. /seed/0/; fi\n"
        "if [ -d /home/cloudron ]; then cp -a /home/cloudron/. /seed/1/; fi",
    ]
    assert [container["name"] for container in pod(spec())["initContainers"]] == ["logs"]


def test_a_runtime_dir_named_twice_with_and_without_its_slash_is_mounted_once() -> None:
    """Mount paths must be unique: the API server refuses the Deployment otherwise."""
    manifest = {**BASE_MANIFEST, "runtimeDirs": ["/app/code/cache", "/app/code/cache/"]}
    mounts = pod(spec(manifest))["containers"][0]["volumeMounts"][2:]
    assert mounts == [{"name": "runtime-0", "mountPath": "/app/code/cache"}]


@pytest.mark.parametrize(
    ("addons", "revision", "annotation"),
    [
        ({"tls": {}}, None, None),  # not listed (an app's first pass): unknown, no change
        ({"tls": {}}, 1, None),  # the first issue: the pods started with it
        ({"tls": {}}, 2, "2"),  # renewed: the pods restart to read it
        ({"tls": {}}, 7, "7"),
        ({}, 7, None),  # without the tls addon the app never reads the certificate
    ],
)
def test_a_tls_addon_app_restarts_when_its_certificate_is_renewed(
    addons: dict[str, Any], revision: int | None, annotation: str | None
) -> None:
    app_spec = spec({**BASE_MANIFEST, "addons": addons})
    built = build_deployment(
        identity(), app_spec, manifest_of(app_spec), CONFIG, {}, certificate_revision=revision
    )
    annotations = built["spec"]["template"]["metadata"]["annotations"]
    assert annotations.get("cloudron.io/certificate-revision") == annotation


def test_the_tls_addon_gets_the_certificate_where_cloudron_puts_it() -> None:
    pod_spec = pod(spec({**BASE_MANIFEST, "addons": {"tls": {}}}))
    assert pod_spec["containers"][0]["volumeMounts"][-1] == {
        "name": "tls",
        "mountPath": "/etc/certs",
        "readOnly": True,
    }
    assert pod_spec["volumes"][-1]["secret"] == {
        "secretName": "wiki-tls",
        "items": [{"key": "tls.crt", "path": "tls_cert.pem"}, {"key": "tls.key", "path": "tls_key.pem"}],
    }


def test_health_is_probed_like_cloudron_with_a_lenient_liveness_probe() -> None:
    container = app_container(spec({**BASE_MANIFEST, "healthCheckPath": "/healthz"}, domain="w.example.com"))
    readiness = container["readinessProbe"]
    assert readiness["httpGet"] == {
        "path": "/healthz",
        "port": "http",
        "httpHeaders": [
            {"name": "Host", "value": "w.example.com"},
            {"name": "User-Agent", "value": "Mozilla (CloudronHealth)"},
        ],
    }
    assert (
        container["startupProbe"]["httpGet"] == container["livenessProbe"]["httpGet"] == readiness["httpGet"]
    )
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 600
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 3600


def test_without_a_health_check_path_only_readiness_waits_for_the_port() -> None:
    manifest = {key: value for key, value in BASE_MANIFEST.items() if key != "healthCheckPath"}
    container = app_container(spec(manifest))
    assert container["readinessProbe"] == {"tcpSocket": {"port": "http"}, "periodSeconds": 10}
    assert "livenessProbe" not in container
    assert "startupProbe" not in container


@pytest.mark.parametrize(
    ("capabilities", "added"),
    [([], set()), (["net_admin", "mlock", "ping"], {"NET_ADMIN", "IPC_LOCK", "NET_RAW"}), (["vaapi"], set())],
)
def test_manifest_capabilities_add_to_a_fixed_base_set(capabilities: list[str], added: set[str]) -> None:
    security = app_container(spec({**BASE_MANIFEST, "capabilities": capabilities}))["securityContext"]
    base = set(app_container(spec())["securityContext"]["capabilities"]["add"])
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(security["capabilities"]["add"]) == base | added
    assert {"CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE"} <= base
    assert "NET_RAW" not in base


def test_the_pod_runs_as_the_image_says_without_service_links_or_api_token() -> None:
    pod_spec = pod(spec())
    assert pod_spec["hostname"] == UID
    assert pod_spec["enableServiceLinks"] is False
    assert pod_spec["automountServiceAccountToken"] is False
    assert "runAsNonRoot" not in str(pod_spec)


def test_a_sidecar_follows_the_apps_log_files_with_the_apps_image_and_mounts() -> None:
    manifest = {**BASE_MANIFEST, "logPaths": ["/run/openfire/openfire.log"], "addons": {"localstorage": {}}}
    pod_spec = pod(spec(manifest))
    (app,) = pod_spec["containers"]
    (logs,) = pod_spec["initContainers"]
    assert logs["restartPolicy"] == "Always"  # a native sidecar: it runs beside the app
    assert logs["image"] == app["image"] and logs["volumeMounts"] == app["volumeMounts"]
    assert logs["securityContext"] == app["securityContext"]
    assert logs["command"][:2] == ["/bin/sh", "-c"]
    assert logs["command"][3:] == ["logs", "10", "1048576", "7", "/run", "/run/openfire/openfire.log"]
    assert logs["resources"]["limits"] == {"memory": "64Mi"}
