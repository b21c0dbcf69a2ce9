"""The schema object, assembled from the root types."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import get_object_definition

from graphql_schema.billing import Invoice, Payment
from graphql_schema.catalog import Product, StockLevel, Warehouse
from graphql_schema.fulfilment import PickList, Shipment
from graphql_schema.mutation import Mutation
from graphql_schema.orders import Order
from graphql_schema.query import Query
from graphql_schema.returns import Inquiry, Return
from graphql_schema.subscription import Subscription
from resolvers import access, node
from resolvers.live import SharedEventExecutionContext
from resolvers.errors import MaskUnexpectedErrors

# Every Node type, each once: exactly the types resolvers.node registers (model, scope, loader).
NODE_TYPES = [Order, Product, Warehouse, StockLevel, Shipment, PickList, Payment, Invoice, Return, Inquiry]
_names = [get_object_definition(t, strict=True).name for t in NODE_TYPES]
if sorted(_names) != sorted(node.NODE_TYPES):
    raise RuntimeError(f"Node types {sorted(_names)} differ from resolvers.node.NODE_TYPES {sorted(node.NODE_TYPES)}")


# The limiters' rule classes, built once: a limiter built per request makes new classes each time,
# which would defeat the validation cache (its key includes the rules).
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=12).validation_rules,
    *MaxAliasesLimiter(max_alias_count=30).validation_rules,
]
# Documents parsed and validated once per distinct text (bounded: clients send a handful of operations).
DOCUMENT_CACHE_SIZE = 256


def build_schema(*, production: bool = False) -> strawberry.Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        MaskUnexpectedErrors,
        lambda: AddValidationRules(LIMIT_RULES),
        lambda: MaxTokensLimiter(max_token_count=5000),
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ]
    if production:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    built = strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, types=NODE_TYPES,
        extensions=extensions, config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=SharedEventExecutionContext,  # a subscription event executes once per shape
    )
    access.install(built._schema)  # issue 13: object-level access on every cross-type field
    return built


schema = build_schema()
