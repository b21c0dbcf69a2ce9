"""Planner mappings of the order graph: Order, OrderLine, the events connection, Money, Address; the roots
`orders`, `order` and the Order node. Each expression reproduces graphql_schema/orders.py + common.py exactly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from typing import Any

from app.orders import queries
from app.orders.queries import PROMISE_KEPT_OR_MOOT
from models import Order
from resolvers import pagination
from resolvers.ids import id_of
from resolvers.metadata import MAX_METADATA_FILTERS
from resolvers.orders import EVENTS_PAGE_MAX, SORT_KEYS
from resolvers.planner.connections import decimal_key, int_key, keyset_bound, keyset_connection, nested_connection, numbered, time_key, uuid_key
from resolvers.planner.core import (
    NODE_ROOTS,
    ROOTS,
    Bind,
    Compiler,
    Fallback,
    Selected,
    TypeMapping,
    Unsupported,
    Value,
    column,
    decimal_text,
    iso_date,
    iso_datetime,
    json_column,
    literal,
    node_id,
    register,
    root_row,
)

# ---------------------------------------------------------------- Money, Address


def money(amount: str, currency: str) -> Any:
    """A field of Money type over (amount column, currency column) of the source alias."""

    def sql(c: Compiler, alias: Any, selected: Selected) -> Value:
        return c.child(selected, (f"{alias}.{amount}", f"{alias}.{currency}"), "Money")

    return sql


register(TypeMapping("Money", {
    "amount": lambda c, src, s: decimal_text(src[0]),
    "currency": lambda c, src, s: src[1],
}))

ADDRESS_KEYS = {"name": "name", "line1": "line1", "line2": "line2", "city": "city", "postalCode": "postal_code",
                "region": "region", "country": "country", "phone": "phone"}
register(TypeMapping("Address", {graphql: (lambda key: lambda c, src, s: f"({src})->>{literal(key)}")(stored)
                                 for graphql, stored in ADDRESS_KEYS.items()}))


def address(name: str) -> Any:
    """graphql_schema.common.Address.from_stored: null for a missing or empty stored value."""

    def sql(c: Compiler, alias: Any, selected: Selected) -> Value:
        value = f"{alias}.{name}"
        return c.optional(selected, value, f"(jsonb_typeof({value}) = 'object' AND {value} <> '{{}}'::jsonb)", "Address")

    return sql


# ---------------------------------------------------------------- OrderLine, OrderEvent

register(TypeMapping("OrderLine", {
    "id": node_id("OrderLine"),
    "sku": column("sku"),
    "productName": column("product_name"),
    "quantity": column("quantity"),
    "taxRate": column("tax_rate", decimal_text),
    "quantityShipped": column("quantity_shipped"),
    "quantityReturned": column("quantity_returned"),
    "unitPrice": money("unit_price", "currency"),
    "total": money("total", "currency"),
    "customization": json_column("customization"),
}, table="order_lines"))

register(TypeMapping("OrderEvent", {
    "type": column("type"),
    "status": column("status"),
    "previousStatus": column("previous_status"),
    "occurredAt": column("occurred_at", iso_datetime),
    "actor": column("actor"),
    "cursor": column("seq", lambda expr: f"({expr})::text"),
    "data": json_column("data"),
}, table="order_events"))


def _events_size(value: Any) -> int:
    try:
        return pagination.page_size(value, default=EVENTS_PAGE_MAX, maximum=EVENTS_PAGE_MAX)
    except Exception:
        raise Fallback() from None


def _events_after(value: Any) -> int:
    try:
        seq = int(value)
    except ValueError:
        raise Fallback() from None
    if not -(2**63) <= seq < 2**63:  # compared in Python by the ordinary resolver; beyond a bigint parameter here
        raise Fallback()
    return seq


def order_events(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.orders.order_events: the whole timeline by seq, after the cursor (a plain seq), sliced."""
    has_after = c.argument_shape(selected, "after", lambda value: value is not None)
    size = c.argument_param(selected, "first", _events_size, "int")
    where = f"order_id = {alias}.id"
    if has_after:
        where += f" AND seq > {c.argument_param(selected, 'after', _events_after, 'bigint')}"
    rows = numbered(f"SELECT * FROM order_events WHERE {where}", "seq", size)
    return nested_connection(c, selected, rows=rows, node_type="OrderEvent", cursor=lambda p: f"({p}.seq)::text", size=size,
                             has_previous=has_after)


def order_lines(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.rows(selected, "order_lines", lambda line: f"{line}.order_id = {alias}.id", lambda line: f"{line}.position")


# ---------------------------------------------------------------- Order

ORDER = register(TypeMapping("Order", {
    "id": node_id("Order"),
    "number": column("number"),
    "status": column("status"),
    "paymentStatus": column("payment_status"),
    "channel": column("channel"),
    "email": column("email"),
    "placedAt": column("placed_at", iso_datetime),
    "updatedAt": column("updated_at", iso_datetime),
    "estimatedDeliveryDate": column("estimated_delivery_date", iso_date),
    "lines": order_lines,
    "events": order_events,
    "shippingAddress": address("shipping_address"),
    "billingAddress": address("billing_address"),
    "subtotal": money("subtotal", "currency"),
    "taxTotal": money("tax_total", "currency"),
    "shippingTotal": money("shipping_total", "currency"),
    "total": money("total", "currency"),
}, table="orders"))


# ---------------------------------------------------------------- roots: orders, order, node(Order)

# OrderSortField -> its keyset column (resolvers.orders.SORT_KEYS), ties broken by id
SORT_COLUMNS = {"PLACED_AT": time_key("placed_at"), "NUMBER": int_key("serial"), "TOTAL": decimal_key("total"),
                "UPDATED_AT": int_key("change_seq")}


def _values(values: Sequence[Enum] | None) -> list[str] | None:
    return [v.value for v in values] if values else None


def _filter(bind: Bind) -> Any:
    return bind.args.get("filter")


def _metadata_shape(values: Any) -> tuple[bool, ...]:
    """Per metadata condition: whether it has a value (`@>`) or not (`?`); too many: the ordinary resolver refuses."""
    if not values:
        return ()
    if len(values) > MAX_METADATA_FILTERS:
        raise Fallback()
    return tuple(v.value is not None for v in values)


def _metadata_conditions(c: Compiler, column: str, field: str, shape: tuple[bool, ...]) -> list[str]:
    """app.orders.queries._metadata_matches: `@>` / `?` (jsonb_exists would not use the GIN index)."""

    def contained(i: int) -> Any:
        return lambda bind: json.dumps({getattr(_filter(bind), field)[i].key: getattr(_filter(bind), field)[i].value})

    def key(i: int) -> Any:
        return lambda bind: getattr(_filter(bind), field)[i].key

    return [f"{column} @> {c.param(contained(i), 'jsonb')}" if with_value else f"{column} ? {c.param(key(i), 'text')}"
            for i, with_value in enumerate(shape)]


def order_conditions(c: Compiler) -> list[str]:
    """app.orders.queries.order_conditions (via resolvers.metadata.order_query), in SQL with parameters; which
    conditions apply is the plan's shape. Every OrderFilter field is compiled here (a new one must be too, or Fallback)."""
    shape = c.shape("orders.filter", lambda bind: None if _filter(bind) is None else (
        bool(_values(_filter(bind).status)), bool(_values(_filter(bind).channel)), bool(_filter(bind).email),
        bool(_filter(bind).placed_after), bool(_filter(bind).placed_before), _filter(bind).delivery_at_risk,
        bool(_filter(bind).updated_after), bool(_filter(bind).external_reference), bool(_filter(bind).marketplace),
        _metadata_shape(_filter(bind).metadata), _metadata_shape(_filter(bind).private_metadata)))
    if shape is None:
        return []
    status, channel, email, after, before, at_risk, updated, reference, marketplace, public, private = shape
    conditions = []
    if status:
        conditions.append(f"status = ANY({c.param(lambda b: _values(_filter(b).status), 'varchar[]')})")
    if channel:
        conditions.append(f"channel = ANY({c.param(lambda b: _values(_filter(b).channel), 'varchar[]')})")
    if email:
        conditions.append(f"email = {c.param(lambda b: _filter(b).email.strip().lower(), 'varchar')}")
    if after:
        conditions.append(f"placed_at >= {c.param(lambda b: _filter(b).placed_after, 'timestamptz')}")
    if before:
        conditions.append(f"placed_at < {c.param(lambda b: _filter(b).placed_before, 'timestamptz')}")
    if at_risk is not None:
        kept = ", ".join(literal(s.value) for s in PROMISE_KEPT_OR_MOOT)
        risky = (f"(estimated_delivery_date IS NOT NULL AND estimated_delivery_date <= {c.param(lambda b: queries.today(), 'date')} "
                 f"AND status NOT IN ({kept}))")
        conditions.append(risky if at_risk else f"NOT {risky}")
    if updated:
        conditions.append(f"updated_at >= {c.param(lambda b: _filter(b).updated_after, 'timestamptz')}")
    if reference:
        conditions.append(f"external_reference = {c.param(lambda b: _filter(b).external_reference.strip(), 'varchar')}")
    if marketplace:
        conditions.append(f"marketplace = {c.param(lambda b: _filter(b).marketplace.strip(), 'varchar')}")
    conditions += _metadata_conditions(c, "metadata", "metadata", public)
    conditions += _metadata_conditions(c, "private_metadata", "private_metadata", private)
    return conditions


def _horizon(bind: Bind) -> int:
    horizon = bind.args.get("horizon")
    if horizon is None:
        raise Fallback()  # resolvers.orders computes it for UPDATED_AT
    return int(horizon)


def orders_root(c: Compiler, selected: Selected) -> str:
    sort_field, descending = c.shape("orders.sort", lambda bind: (
        (bind.args["sort"].field.value, bind.args["sort"].direction.value == "DESC") if bind.args.get("sort") else ("PLACED_AT", True)))
    conditions = order_conditions(c)
    if sort_field == "UPDATED_AT":  # queries.changed_up_to: never past the event horizon
        conditions.append(f"change_seq <= {c.param(_horizon, 'bigint')}")
    return keyset_connection(c, selected, table="orders", node_type="Order", keys=(SORT_COLUMNS[sort_field], uuid_key()),
                             bound=keyset_bound((SORT_KEYS[sort_field], pagination.uuid_key(Order.id))), descending=descending,
                             conditions=conditions)


def _order_id(bind: Bind) -> Any:
    value = id_of(bind.args["id"], "Order")
    if value is None:
        raise Fallback()  # the ordinary resolver answers null without a query
    return value


def order_root(c: Compiler, selected: Selected) -> str:
    """resolvers.orders.order: by id (and the number, when both are given), else by number."""
    by = c.shape("order.by", lambda bind: ("id" if bind.args.get("id") is not None else "number" if bind.args.get("number") is not None else None,
                                           bind.args.get("number") is not None))
    kind, with_number = by
    if kind == "id":
        order_id = c.param(_order_id, "uuid")
        number = c.param(lambda b: b.args["number"], "varchar") if with_number else None

        def where(o: str) -> str:
            return f"{o}.id = {order_id}" + (f" AND {o}.number = {number}" if number else "")
    elif kind == "number":
        by_number = c.param(lambda b: b.args["number"].strip(), "varchar")

        def where(o: str) -> str:
            return f"{o}.number = {by_number}"
    else:
        raise Unsupported("order() without arguments")
    return root_row(c, selected, "orders", where, "Order")


ROOTS["Query.orders"] = orders_root
ROOTS["Query.order"] = order_root
NODE_ROOTS["Order"] = "orders"
