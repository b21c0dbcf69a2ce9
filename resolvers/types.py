"""Type aliases the resolvers and the schema share."""

from __future__ import annotations

from typing import TypeAlias

from strawberry.types import Info as StrawberryInfo

from resolvers.context import Context
from resolvers.errors import MutationOutcome

# What every resolver receives: the request's Context, and no root value.
Info: TypeAlias = StrawberryInfo[Context, None]

# What resolvers.errors.run_mutation returns (the payload's fields, userErrors and eventCursor).
MutationPayload: TypeAlias = MutationOutcome
