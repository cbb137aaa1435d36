"""Entry point: `python -m cloudron_operator [run|login|backup ACTION|manifest ...|user ...]`.

`run` is the operator, `login` the login service (its own Deployment), `backup` the program of a
backup or restore Job, the rest command lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _run_operator() -> int:
    # Imported here so that `manifest check` does not load kopf and the whole operator.
    import kopf  # noqa: PLC0415

    from cloudron_operator.config import ConfigError, load_config  # noqa: PLC0415
    from cloudron_operator.handlers import build_registry  # noqa: PLC0415
    from cloudron_operator.k8s.api import allow_api_server_nesting  # noqa: PLC0415
    from cloudron_operator.kopf_adapters.late_crd import RestartWhenServed  # noqa: PLC0415
    from cloudron_operator.kopf_adapters.peering import Identity  # noqa: PLC0415
    from cloudron_operator.metrics import Metrics  # noqa: PLC0415

    try:
        config = load_config()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    allow_api_server_nesting()
    # log_prefix: each line about an object starts with [namespace/name], or it names no app at all.
    kopf.configure(verbose=config.log_level == "debug", quiet=config.log_level == "warning", log_prefix=True)
    settings = kopf.OperatorSettings()
    settings.peering.lifetime = config.peering_lifetime_seconds
    # With peering, every replica gets its own random priority: the highest one acts and the others
    # pause until its keep-alive lapses. Equal priorities would pause them all (kopf's rule).
    identity = Identity.new(os.environ.get("POD_ID")) if config.peering else None
    restart = RestartWhenServed()
    kopf.run(
        registry=build_registry(config, metrics := Metrics()),
        settings=settings,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        standalone=not config.peering,
        peering_name=config.peering or None,
        identity=identity.kopf_identity() if identity else None,
        priority=identity.priority if identity else None,
        liveness_endpoint=f"http://{config.health_address}/healthz",
        memo=kopf.Memo(config=config, metrics=metrics, peering_identity=identity, late_crd=restart),
    )
    restart.start_again()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cloudron-operator",
        description="Run the operator (configured by CLOUDRON_OPERATOR_* variables), or check manifests.",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the operator (the default)")
    sub.add_parser("login", help="run the login service (configured by CLOUDRON_LOGIN_* variables)")
    manifest = sub.add_parser("manifest", help="work with CloudronManifest.json files")
    manifest_sub = manifest.add_subparsers(dest="manifest_command", required=True)
    check = manifest_sub.add_parser("check", help="validate manifests; exit 1 if any is invalid")
    check.add_argument("files", nargs="+")
    fields = manifest_sub.add_parser(
        "fields", help="list the fields the operator accepts and does not honour"
    )
    fields.add_argument("files", nargs="+")
    user = sub.add_parser("user", help="manage the central directory's users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    set_password = user_sub.add_parser(
        "set-password", help="set a CloudronUser's password, read from stdin or asked for (never an argument)"
    )
    set_password.add_argument("name", help="the CloudronUser's name")
    set_password.add_argument(
        "--namespace",
        default=os.environ.get("CLOUDRON_OPERATOR_USERS_NAMESPACE", "cloudron-users"),
        help="where the operator keeps the password Secrets (its users_namespace setting)",
    )
    backup = sub.add_parser(
        "backup",
        help="make or restore one backup (a Job's program; configured by CLOUDRON_BACKUP_* variables)",
    )
    backup.add_argument("action", choices=["create", "restore"])
    args = parser.parse_args(argv)

    if args.command == "manifest":
        # Imported here, as the rest: a backup Job's program loads nothing it does not use.
        from cloudron_operator.manifest.cli import check_files, unhonoured_fields  # noqa: PLC0415

        return check_files(args.files) if args.manifest_command == "check" else unhonoured_fields(args.files)
    if args.command == "user":
        from cloudron_operator.directory import cli  # noqa: PLC0415 - no kopf for a command line

        return cli.main(args.name, args.namespace)
    if args.command == "backup":
        from cloudron_operator.backup.program import main as backup_main  # noqa: PLC0415 - no kopf here

        return backup_main(args.action)
    if args.command == "login":
        from cloudron_operator.login.server import main as login_main  # noqa: PLC0415 - no kopf here

        return login_main()
    return _run_operator()


if __name__ == "__main__":
    sys.exit(main())
