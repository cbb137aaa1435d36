"""`python -m tests.harness demo | down NAME | kubeconfig NAME`: drive a local environment by hand."""

from __future__ import annotations

import argparse
import sys

from tests.harness import catalogs, corpus, demo
from tests.harness.localenv import LocalEnv
from tests.harness.processes import HarnessError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="start (or reuse) the demo environment and apply the example apps")
    sub.add_parser(
        "corpus", help="apply every corpus manifest as an app in the demo; print what became Ready"
    )
    sub.add_parser(
        "catalogs", help="install every corpus catalog's apps by id in the demo; print what became Ready"
    )
    for name, text in (
        ("down", "stop and remove an environment"),
        ("kubeconfig", "print its kubeconfig path"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("env", help="environment name: demo, or test-<pid> kept by CLOUDRON_TEST_KEEP=1")
    args = parser.parse_args()
    try:
        if args.command == "demo":
            demo.demo()
        elif args.command == "corpus":
            print(corpus.corpus().table())
        elif args.command == "catalogs":
            print(catalogs.catalogs().report())
        elif args.command == "down":
            if args.env == demo.DEMO:
                demo.down()
            else:
                LocalEnv.named(args.env).down()
        else:
            print(LocalEnv.named(args.env).cluster.kubeconfig)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
