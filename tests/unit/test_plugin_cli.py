"""kubectl-cloudron's command line: kubectl's conventions, usage errors with exit code 2."""

from __future__ import annotations

import io

import pytest

from cloudron_operator.plugin import read_commands, write_commands
from cloudron_operator.plugin.cli import build_parser, run

pytestmark = pytest.mark.unit


def test_connection_flags_go_before_or_after_the_command() -> None:
    parser = build_parser()
    after = parser.parse_args(
        ["list", "-n", "apps", "--kubeconfig", "/k", "--context", "c", "-A", "-o", "wide"]
    )
    assert (after.namespace, after.kubeconfig, after.context, after.all_namespaces, after.output) == (
        "apps",
        "/k",
        "c",
        True,
        "wide",
    )
    assert after.run is read_commands.list_apps
    before = parser.parse_args(["-n", "apps", "--context", "c", "update", "wiki", "--to", "2.5.301"])
    assert (before.namespace, before.context, before.name, before.to) == ("apps", "c", "wiki", "2.5.301")
    assert before.run is write_commands.update
    assert not hasattr(parser.parse_args(["users"]), "namespace")  # unset: the context's namespace


def test_install_options() -> None:
    args = build_parser().parse_args(
        [
            "install",
            "org.wikijs.cloudronapp@2.5.300",
            "--domain",
            "wiki.example.com",
            "--health-timeout",
            "15m",
            "--backup-store",
            "offsite",
            "--wait",
            "--timeout",
            "2m",
        ]
    )
    assert (args.app, args.domain, args.health_timeout, args.backup_store, args.wait, args.timeout) == (
        "org.wikijs.cloudronapp@2.5.300",
        "wiki.example.com",
        "15m",
        "offsite",
        True,
        120,
    )
    assert (args.name, args.catalog, args.automatic_updates, args.output) == (None, None, False, None)


def test_catalog_and_logs_options() -> None:
    parser = build_parser()
    search = parser.parse_args(["catalog", "search", "Wiki", "-o", "json"])
    assert (search.run, search.term, search.output) == (read_commands.catalog_search, "Wiki", "json")
    logs = parser.parse_args(["logs", "wiki", "-f", "--tail", "20", "--since", "1h", "-c", "app"])
    assert (logs.follow, logs.tail, logs.since, logs.container) == (True, 20, 3600, "app")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["install", "org.wikijs.cloudronapp"], "the following arguments are required: --domain"),
        (["install", "x", "--domain", "d", "--health-timeout", "ten"], "'ten' is not a duration"),
        (["install", "x", "--domain", "d", "--update-schedule", "0 25 * * *"], "hour field"),
        (["install", "x", "--domain", "d", "--update-schedule", "@reboot"], "@reboot names no times"),
        (["list", "-o", "table"], "invalid choice: 'table'"),
        (["restore", "wiki"], "the following arguments are required: --backup"),
        (["catalog"], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_as_kubectl_writes_them(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert "See 'kubectl cloudron" in err


def test_usage_errors_found_after_parsing_exit_2_before_any_request() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["install", "org.wikijs.cloudronapp@2.5.300", "--domain", "w.example.com", "--automatic-updates"]
    assert run(argv, out, err) == 2
    assert err.getvalue() == (
        "error: --automatic-updates follows the newest published version: it cannot go with APPID@VERSION\n"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--update-schedule", "30 1 * * *"], "--update-schedule says when automatic updates start"),
        (["--automatic-updates", "--update-window", "2h"], "--update-window is the length of each window"),
    ],
)
def test_update_window_flags_that_would_be_ignored_exit_2(flags: list[str], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(["install", "org.wikijs.cloudronapp", "--domain", "w.example.com", *flags], out, err) == 2
    assert err.getvalue().startswith(f"error: {message}")


def test_no_command_prints_the_help_and_exits_2() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run([], out, err) == 2
    assert "usage: kubectl cloudron" in err.getvalue()
