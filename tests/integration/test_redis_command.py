"""The app's Redis command line, run by the real redis-server: who can log in, with what."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.redis import REDIS_USER, redis_env
from tests.harness.app_redis import redis_from_builder
from tests.harness.processes import LOOPBACK

PASSWORD = "tw0-parts/with:symbols@"


def test_the_url_the_app_gets_logs_in_and_so_does_the_password_alone(tmp_path: Path) -> None:
    env = redis_env(AppIdentity("wiki", "team-a", "uid"), PASSWORD)
    with redis_from_builder(PASSWORD, tmp_path) as port:
        url = env["CLOUDRON_REDIS_URL"].replace("wiki-redis:6379", f"{LOOPBACK}:{port}")
        by_url = redis.Redis.from_url(url, socket_timeout=2)
        by_url.set("key", "value")
        assert by_url.get("key") == b"value"
        by_password = redis.Redis(host=LOOPBACK, port=port, password=PASSWORD, socket_timeout=2)
        assert by_password.get("key") == b"value"


def test_without_the_password_nothing_is_served(tmp_path: Path) -> None:
    with redis_from_builder(PASSWORD, tmp_path) as port:
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host=LOOPBACK, port=port, password="wrong", socket_timeout=2).ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(
                host=LOOPBACK, port=port, username=REDIS_USER, password="wrong", socket_timeout=2
            ).ping()
        with pytest.raises(redis.exceptions.AuthenticationError, match="required"):
            redis.Redis(host=LOOPBACK, port=port, socket_timeout=2).get("key")


def test_no_password_serves_without_one(tmp_path: Path) -> None:
    with redis_from_builder(None, tmp_path) as port:
        assert redis.Redis(host=LOOPBACK, port=port, socket_timeout=2).ping()


def test_the_data_is_kept_in_the_volume_across_restarts(tmp_path: Path) -> None:
    with redis_from_builder(PASSWORD, tmp_path) as port:
        redis.Redis(host=LOOPBACK, port=port, password=PASSWORD, socket_timeout=2).set("kept", "yes")
    with redis_from_builder(PASSWORD, tmp_path) as port:
        assert (
            redis.Redis(host=LOOPBACK, port=port, password=PASSWORD, socket_timeout=2).get("kept") == b"yes"
        )
