"""The migrations build exactly the schema the models describe: no drift between the two."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import models


async def test_the_migrated_database_matches_the_models(db):
    # given: the session database, migrated from nothing to head by the fixtures

    # when
    def differences(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, models.Base.metadata)

    async with db.engine.connect() as connection:
        diff = await connection.run_sync(differences)

    # then
    assert diff == []
