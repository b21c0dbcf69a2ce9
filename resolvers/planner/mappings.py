"""Every domain's planner mappings, registered on import (graphql_schema/schema.py imports this through
resolvers/planner/execution.py). A domain adds its module here."""

from __future__ import annotations

from resolvers.planner import fulfilment, orders

__all__ = ["fulfilment", "orders"]
