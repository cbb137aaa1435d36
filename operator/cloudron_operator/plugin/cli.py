"""`kubectl cloudron`: the command line, parsed as kubectl parses its own, and each command's dispatch.

kubectl runs a `kubectl-cloudron` on PATH for `kubectl cloudron ...`, with the arguments after the
plugin's name (kubectl allows no flag before it) and its own environment ($KUBECONFIG too).
Exit codes: 0 done, 1 failed, 2 the command line is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final, NoReturn, TextIO

from pydantic import ValidationError

from cloudron_operator.catalog.durations import duration_seconds
from cloudron_operator.models.app import UpdatePolicy
from cloudron_operator.plugin import read_commands, write_commands
from cloudron_operator.plugin.catalog import CatalogError
from cloudron_operator.plugin.kube import PluginError
from cloudron_operator.plugin.objects import UsageError
from cloudron_operator.plugin.session import Session

PROG: Final = "kubectl cloudron"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
DEFAULT_WAIT: Final = "10m"
LISTING_FORMATS: Final = ("wide", "yaml", "json")
DOCUMENT_FORMATS: Final = ("yaml", "json")

Command = Callable[[Session], int]


class Parser(argparse.ArgumentParser):
    """Usage errors as kubectl writes them, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def _duration(text: str) -> int:
    try:
        return duration_seconds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _duration_text(text: str) -> str:
    """A duration checked, and kept as written (for the spec)."""
    _duration(text)
    return text


def _schedule_text(text: str) -> str:
    """A cron schedule that names times, checked as the operator checks updatePolicy.schedule."""
    try:
        UpdatePolicy.model_validate({"automatic": True, "schedule": text})
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise argparse.ArgumentTypeError(message) from error
    return text


def _connection_options() -> Parser:
    # SUPPRESS: given before the command or after it, the value is kept (an unset one overwrites nothing).
    options = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    options.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    options.add_argument("--context", help="kubeconfig context (default: the current one)")
    return options


def build_parser() -> Parser:
    connection = _connection_options()
    parser = Parser(
        prog=PROG,
        description="Cloudron apps on Kubernetes: catalogs, installs, updates, backups.",
        parents=[connection],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(
        name: str, run: Command, help_text: str, parent: argparse._SubParsersAction[Parser] = commands
    ) -> Parser:
        sub: Parser = parent.add_parser(name, help=help_text, description=help_text, parents=[connection])
        sub.set_defaults(run=run)
        return sub

    catalog = commands.add_parser(
        "catalog", help="the apps of the cluster's AppCatalogs", parents=[connection]
    )
    catalog_commands = catalog.add_subparsers(
        dest="catalog_command", metavar="COMMAND", parser_class=Parser, required=True
    )
    listing = command("list", read_commands.catalog_list, "list every catalog's apps", catalog_commands)
    listing.add_argument("-o", "--output", choices=LISTING_FORMATS)
    search = command(
        "search",
        read_commands.catalog_search,
        "apps whose id, title, tagline or tags contain TERM (any case)",
        catalog_commands,
    )
    search.add_argument("term", metavar="TERM")
    search.add_argument("-o", "--output", choices=LISTING_FORMATS)

    install = command(
        "install", write_commands.install, "install an app from a catalog: writes a CloudronApp"
    )
    install.add_argument("app", metavar="APPID[@VERSION]", help="without @VERSION: the newest published")
    install.add_argument("--domain", required=True, help="the app's domain, e.g. wiki.example.com")
    install.add_argument("--name", help="the CloudronApp's name (default: from the app id, e.g. wikijs)")
    install.add_argument("--catalog", help="the AppCatalog (default: the only one that has the app)")
    install.add_argument("--automatic-updates", action="store_true", help="update to new published versions")
    install.add_argument(
        "--health-timeout",
        type=_duration_text,
        metavar="DURATION",
        help="how long an updated app has to become Ready before it is rolled back (e.g. 10m)",
    )
    install.add_argument(
        "--update-schedule",
        type=_schedule_text,
        metavar="CRON",
        help="with --automatic-updates: when updates may start (cron, UTC), e.g. '30 1,3,5,23 * * *'",
    )
    install.add_argument(
        "--update-window",
        type=_duration_text,
        metavar="DURATION",
        help="how long after each time of --update-schedule an update may still start (default 1h)",
    )
    install.add_argument("--backup-store", metavar="STORE", help="the BackupStore of the app's backups")
    install.add_argument(
        "-o", "--output", choices=DOCUMENT_FORMATS, help="print the CloudronApp, write nothing"
    )
    _wait_options(install)

    apps = command("list", read_commands.list_apps, "list the CloudronApps")
    apps.add_argument("-A", "--all-namespaces", action="store_true", help="in every namespace")
    apps.add_argument("-o", "--output", choices=LISTING_FORMATS)

    update = command("update", write_commands.update, "update an app to its available update or to --to")
    update.add_argument("name", metavar="NAME")
    update.add_argument("--to", metavar="VERSION", help="the version (default: status.availableUpdate)")
    _wait_options(update)

    backup = command("backup", write_commands.backup, "back an app up now: creates a CloudronBackup")
    backup.add_argument("name", metavar="NAME")
    backup.add_argument("--store", help="the BackupStore (default: the app's spec.backup.store)")
    _wait_options(backup)

    restore = command("restore", write_commands.restore, "restore an app from one of its CloudronBackups")
    restore.add_argument("name", metavar="NAME")
    restore.add_argument("--backup", required=True, help="the CloudronBackup's name")
    _wait_options(restore)

    logs = command("logs", read_commands.logs, "print the logs of the app's pods (every container)")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("-f", "--follow", action="store_true", help="stream the logs as they come")
    logs.add_argument("--tail", type=int, metavar="N", help="the last N lines of each container")
    logs.add_argument(
        "--since", type=_duration, metavar="DURATION", help="only lines newer than this, e.g. 1h"
    )
    logs.add_argument("-c", "--container", help="only this container (app, logs, ...)")

    users = command("users", read_commands.users, "list the CloudronUsers")
    users.add_argument("-o", "--output", choices=LISTING_FORMATS)
    return parser


def _wait_options(parser: Parser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait until it is done, with a progress line")
    parser.add_argument(
        "--timeout",
        type=_duration,
        default=duration_seconds(DEFAULT_WAIT),
        metavar="DURATION",
        help=f"how long --wait waits (default {DEFAULT_WAIT})",
    )


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "run", None)
    if command is None:
        parser.print_help(err)
        return EXIT_USAGE
    session = Session(args, out, err)
    try:
        return command(session)
    except UsageError as error:
        err.write(f"error: {error}\n")
        return EXIT_USAGE
    except (PluginError, CatalogError) as error:
        err.write(f"error: {error}\n")
        return EXIT_FAILED
    finally:
        session.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and Python must not complain at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
