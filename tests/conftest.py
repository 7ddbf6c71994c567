"""Test-wide setup: an isolated Airflow home on SQLite, before anything imports airflow.

Unit tests need no database. Tests that run DAGs use the ``airflow_db`` fixture, which resets
the SQLite metadata DB once per session; DAG files live in ``tests/dags`` (Airflow only runs
DAGs from its dags folder: a DAG defined elsewhere fails with "the dag is not serialized", as in
apache/airflow#60860).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

TESTS_DIR = Path(__file__).parent
_HOME = Path(tempfile.mkdtemp(prefix="feishu-airflow-home-"))

os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TESTS_DIR / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "")
# Loopback only: never let a proxy setting from the environment route test traffic elsewhere.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


#: Tests that start a real Airflow (``airflow standalone`` or its components) and Chromium. Under
#: pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``) they form one group, run by one worker
#: one after the other: two Airflows at once would starve each other (and the crash tests' clocks)
#: on two cores. They mostly wait on Airflow, so the other worker runs the rest meanwhile.
AIRFLOW_PROCESS_DIRS = (TESTS_DIR / "e2e", TESTS_DIR / "browser")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(folder in item.path.parents for folder in AIRFLOW_PROCESS_DIRS):
            item.add_marker(pytest.mark.xdist_group("airflow_processes"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A fresh SQLite metadata DB for tests that run DAGs (about 2-3 s, once per session)."""
    from airflow.utils import db

    db.resetdb()
    return _HOME


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Every test starts with an empty process-wide token cache."""
    from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE

    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


class Unreachable(NamedTuple):
    """A ``feishu_default`` connection to a wrong port: its base URL and its (never shown) App Secret."""

    url: str
    secret: str


@pytest.fixture
def unreachable_connection(monkeypatch) -> Unreachable:
    """``feishu_default`` -> 127.0.0.1 port 1, where every connect is refused at once; no retries."""
    import json

    target = Unreachable(url="http://127.0.0.1:1", secret="unreachable-secret")
    conn = {"conn_type": "feishu", "login": "cli_x", "password": target.secret, "host": target.url}
    conn["extra"] = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "max_retries": 0}
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(conn))
    return target
