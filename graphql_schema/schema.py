"""The schema object, assembled from the root types."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

import strawberry
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import get_object_definition

from app.infra.settings import Settings
from graphql_schema.alerts import Alert  # alerts, issue 19
from graphql_schema.billing import Invoice, Payment
from graphql_schema.catalog import Product, StockLevel, Warehouse
from graphql_schema.drafts import DraftOrder  # drafts, issue 18
from graphql_schema.fulfilment import PickList, Shipment
from graphql_schema.mutation import Mutation
from graphql_schema.orders import Order
from graphql_schema.query import Query
from graphql_schema.returns import Inquiry, Return
from graphql_schema.subscription import Subscription
from graphql_schema.webhooks import WebhookDelivery, WebhookEndpoint
from resolvers import access, cost, limits, logs, node
from resolvers.live import SharedEventExecutionContext

# Every Node type, each once: exactly the types resolvers.node registers (model, scope, loader).
NODE_TYPES = [Order, Product, Warehouse, StockLevel, Shipment, PickList, Payment, Invoice, Return, Inquiry, WebhookEndpoint, WebhookDelivery, DraftOrder, Alert]
_names = [get_object_definition(t, strict=True).name for t in NODE_TYPES]
if sorted(_names) != sorted(node.NODE_TYPES):
    raise RuntimeError(f"Node types {sorted(_names)} differ from resolvers.node.NODE_TYPES {sorted(node.NODE_TYPES)}")


# Issue 13: the strict Decimal scalar (no NaN, Infinity or exponent) in place of strawberry's.
StrictDecimal = strawberry.scalar(name="Decimal", serialize=str, parse_value=limits.parse_decimal, description=(
    'A fixed-point decimal, sent as a string ("12.50"; a finite JSON number is accepted as input): never NaN, Infinity or an exponent.'))


@lru_cache(maxsize=8)
def limit_rules(document_limits: limits.DocumentLimits) -> tuple[type, ...]:
    """The limit rule classes, built once per setting: new classes per request would defeat the validation
    cache (its key includes the rules). They run before graphql-core's rules and abort validation."""
    return (limits.document_limits_rule(document_limits), limits.StringLiteralRule)
# Documents parsed and validated once per distinct text (bounded: clients send a handful of operations).
DOCUMENT_CACHE_SIZE = 256


def build_schema(*, production: bool = False, settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    rules = limit_rules(limits.DocumentLimits(max_depth=settings.max_depth, max_aliases=settings.max_aliases,
                                              max_directives=settings.max_directives))
    cost_limits = cost.CostLimits(max_cost=settings.max_query_cost, bucket_capacity=settings.cost_bucket,
                                  restore_rate=settings.cost_restore_rate)
    bucket = cost.LeakyBucket(cost_limits.bucket_capacity, cost_limits.restore_rate) if settings.cost_bucket > 0 else None
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        # MaskUnexpectedErrors, ClientErrorCodes, parse limits, PrependValidationRules(rules), VariablesGuard: one extension
        limits.request_steps(limits.ParseSettings(max_tokens=settings.max_tokens), tuple(rules)),
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        # production: the same cache, with "Did you mean …" hidden
        limits.HideSuggestionsValidation if production else limits.cached_validation(DOCUMENT_CACHE_SIZE),
        cost.make_query_cost(cost_limits, bucket),
    ]
    if production:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    execution_context = limits.hide_suggestions_in_execution(SharedEventExecutionContext) if production else SharedEventExecutionContext
    built = logs.QuietSchema(
        query=Query, mutation=Mutation, subscription=Subscription, types=NODE_TYPES,
        extensions=extensions, config=StrawberryConfig(auto_camel_case=True, disable_field_suggestions=production),
        execution_context_class=execution_context,  # a subscription event executes once per shape
        scalar_overrides={Decimal: StrictDecimal},
    )
    access.install(built._schema)  # issue 13: object-level access on every cross-type field
    return built


schema = build_schema()
