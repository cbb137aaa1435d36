"""The fast slice of the fuzzing (issue #25): generated CloudronApps, Addons and CloudronUsers (valid,
near-valid, hostile) against the real API server, the running operator, the real PostgreSQL, MariaDB
and slapd. The checks are `tests/fuzz/invariants.py`; the long run is `python -m bench.fuzz`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.fuzz.invariants import (
    FuzzEnv,
    FuzzRun,
    LdapProbe,
    Report,
    RunSettings,
    ShellProbe,
    SqlProbe,
    addons_ready,
    closed_port,
    operator_settings,
    prepare,
    remove_addons,
)
from tests.fuzz.strategies import batches, fuzz_objects, generate, regressions, uniquified
from tests.harness.databases import DatabaseServer
from tests.harness.ldap import LdapServer, start_ldap_server
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.harness.smtp_sink import SmtpSink

pytestmark = pytest.mark.integration

OBJECTS = 160  # and the regressions: about a minute and a half on 2 cores
SEED = 25  # the same objects on every run
RESYNC_SECONDS = 5.0
SETTINGS = RunSettings(
    batch_size=80, settle_timeout=90.0, hold_seconds=RESYNC_SECONDS + 3, delete_timeout=60.0
)


@pytest.fixture
def fuzz_ldap(tmp_path: Path) -> Iterator[LdapServer]:
    server = start_ldap_server(tmp_path / "ldap")
    yield server
    server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def test_generated_objects_are_refused_by_field_or_settle_and_reach_nothing_unescaped(  # noqa: PLR0917 - fixtures
    installed_crds: None,
    api_client: client.ApiClient,
    kubeconfig: Path,
    namespace: str,
    postgres_server: DatabaseServer,
    mariadb_server: DatabaseServer,
    fuzz_ldap: LdapServer,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    with closed_port() as port:
        context = prepare(
            api_client,
            namespace,
            postgres=postgres_server,
            mariadb=mariadb_server,
            ldap=fuzz_ldap,
            smtp_port=smtp_sink.port,
            closed_port=port,
        )
        operator = OperatorProcess(
            kubeconfig, tmp_path / "operator.log", env=operator_settings(namespace, RESYNC_SECONDS)
        )
        operator.start()
        try:
            wait_until(lambda: addons_ready(api_client, context), 60, "the run's Addons to be Ready")
            drawn = [*generate(fuzz_objects(context), OBJECTS, SEED), *regressions(context)]
            objects = [uniquified(o, i) for i, o in enumerate(drawn)]
            env = FuzzEnv(
                factory=lambda: config.new_client_from_config(config_file=str(kubeconfig)),
                context=context,
                operator=operator,
                sql=SqlProbe(postgres_server, mariadb_server),
                ldap=LdapProbe(fuzz_ldap),
                shell=ShellProbe(tmp_path),
                admin_passwords=(
                    postgres_server.admin_password,
                    mariadb_server.admin_password,
                    fuzz_ldap.admin_password,
                ),
            )
            report: Report = FuzzRun(env, SETTINGS).run(batches(objects, SETTINGS.batch_size))
        finally:
            operator.stop()
            remove_addons(api_client, context)
    print(report.render())
    assert len(report.outcomes) == len(objects)
    assert any(o.ready == "True" for o in report.outcomes), report.render()
    assert any(o.refused_status == 422 for o in report.outcomes), report.render()
    assert not report.violations, report.render()
