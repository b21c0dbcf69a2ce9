"""The schema object, assembled from the root types."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig

from graphql_schema.billing import Invoice, Payment
from graphql_schema.catalog import Product, StockLevel, Warehouse
from graphql_schema.fulfilment import PickList, Shipment
from graphql_schema.mutation import Mutation
from graphql_schema.orders import Order
from graphql_schema.query import Query
from graphql_schema.subscription import Subscription
from resolvers.errors import MaskUnexpectedErrors

NODE_TYPES = [Order, Product, Warehouse, StockLevel, Shipment, PickList, Payment, Invoice]


def build_schema(*, production: bool = False) -> strawberry.Schema:
    extensions = [
        MaskUnexpectedErrors,
        lambda: QueryDepthLimiter(max_depth=12),
        lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: MaxTokensLimiter(max_token_count=5000),
    ]
    if production:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, types=NODE_TYPES,
        extensions=extensions, config=StrawberryConfig(auto_camel_case=True),
    )


schema = build_schema()
