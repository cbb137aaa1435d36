"""What the PostgreSQL Addon's check says about extensions, from what a server reports."""

from __future__ import annotations

import pytest

from cloudron_operator.provisioners.pg_extensions import (
    CLOUDRON_EXTENSIONS,
    ExtensionSupport,
    loads_whitelist_module,
    parse_whitelist,
    whitelist_setting,
)

pytestmark = pytest.mark.unit

TRUSTED = {"pg_trgm", "hstore", "citext", "btree_gin", "btree_gist", "cube", "earthdistance", "fuzzystrmatch",
           "pgcrypto", "plpgsql", "unaccent", "uuid-ossp"}  # fmt: skip


def server(*, loaded: bool, whitelist: str, absent: frozenset[str] = frozenset()) -> ExtensionSupport:
    installed = {name: name in TRUSTED for name in CLOUDRON_EXTENSIONS if name not in absent}
    installed["file_fdw"] = False
    return ExtensionSupport(installed, loaded, parse_whitelist(whitelist))


def test_a_server_set_up_as_cloudrons_offers_everything() -> None:
    support = server(loaded=True, whitelist=whitelist_setting())
    assert all(support.creatable(name) for name in CLOUDRON_EXTENSIONS)
    assert not support.creatable("file_fdw")
    assert support.summary() == f"apps may create all {len(CLOUDRON_EXTENSIONS)} extensions Cloudron offers"


def test_without_pgextwlist_only_trusted_extensions_are_creatable() -> None:
    support = server(loaded=False, whitelist=whitelist_setting(), absent=frozenset({"vector", "vectors"}))
    assert support.creatable("pg_trgm")
    assert not support.creatable("postgis")
    summary = support.summary()
    assert summary.startswith(f"apps may create {len(TRUSTED)} of the {len(CLOUDRON_EXTENSIONS)} extensions")
    assert "not installed on the server: vector, vectors" in summary
    assert "refused to apps (the server does not load pgextwlist): address_standardizer," in summary


def test_a_short_whitelist_names_what_it_leaves_out() -> None:
    support = server(loaded=True, whitelist=" postgis ,pg_stat_statements,, ")
    assert support.creatable("postgis")
    assert not support.creatable("postgis_topology")
    assert "refused to apps (not in extwlist.extensions): address_standardizer" in support.summary()


@pytest.mark.parametrize(
    ("values", "loaded"),
    [
        (["pgextwlist", None, ""], True),
        ([None, "auto_explain, $libdir/plugins/pgextwlist", None], True),
        ([None, None, '"pgextwlist"'], True),
        (["pgextwlist_old", None, "pg_stat_statements"], False),
        ([None, None, None], False),
    ],
)
def test_the_module_is_found_in_any_preload_setting(values: list[str | None], loaded: bool) -> None:
    assert loads_whitelist_module(values) is loaded


def test_the_list_is_sorted_unique_and_has_what_the_spec_names() -> None:
    assert list(CLOUDRON_EXTENSIONS) == sorted(set(CLOUDRON_EXTENSIONS))
    assert {"postgis", "vector", "pg_trgm", "hstore", "unaccent", "uuid-ossp", "pg_stat_statements"} <= set(
        CLOUDRON_EXTENSIONS
    )
