"""Unit tests: pure rules on in-memory data, no PostgreSQL.

tests/conftest.py starts the database only for tests that ask for it (`database_url`, `app`, `db`, ...);
this refuses, at collection, any unit test that would, so `pytest tests/unit` stays a matter of seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
DATABASE_FIXTURES = frozenset({"database_url", "app", "db", "client", "gql", "admin_token"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            used = DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if used:
                raise pytest.UsageError(f"{item.nodeid} is a unit test but asks for {sorted(used)}: put it beside the database tests")
