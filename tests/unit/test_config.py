from __future__ import annotations

import pytest

from cloudron_operator.config import ConfigError, OperatorConfig, load_config


def test_defaults_watch_every_namespace() -> None:
    config = load_config({})
    assert config == OperatorConfig()
    assert config.namespaces == ()


def test_namespaces_are_read_as_a_comma_separated_list() -> None:
    config = load_config({"CLOUDRON_OPERATOR_NAMESPACES": " team-a, team-b ,,", "PATH": "/bin"})
    assert config.namespaces == ("team-a", "team-b")


def test_an_unknown_setting_is_an_error_not_silently_ignored() -> None:
    with pytest.raises(ConfigError, match="namespace"):
        load_config({"CLOUDRON_OPERATOR_NAMESPACE": "team-a"})


def test_a_bad_value_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="max_workers"):
        load_config({"CLOUDRON_OPERATOR_MAX_WORKERS": "0"})


def test_ingress_namespace_labels_are_read_as_key_value_pairs() -> None:
    config = load_config({"CLOUDRON_OPERATOR_INGRESS_NAMESPACE_LABELS": "team=edge, tier=ingress"})
    assert config.ingress_namespace_labels == {"team": "edge", "tier": "ingress"}


def test_port_service_type_is_limited_to_what_exposes_ports() -> None:
    assert load_config({"CLOUDRON_OPERATOR_PORT_SERVICE_TYPE": "NodePort"}).port_service_type == "NodePort"
    with pytest.raises(ConfigError, match="port_service_type"):
        load_config({"CLOUDRON_OPERATOR_PORT_SERVICE_TYPE": "ClusterIP"})
