"""Planner mappings of post-sale care: Return (lines, value, refund, exchange's price difference and replacement
order), ReturnLine, Inquiry with its messages; Order.returns, Order.inquiries; the root `returns`; the Return and
Inquiry nodes. Each expression reproduces graphql_schema/returns.py
and resolvers/returns.py."""

from __future__ import annotations

from typing import Any

from models.returns import ReturnRequest
from resolvers import pagination
from resolvers.planner import (
    fulfilment,  # noqa: F401  (registers Warehouse: ReturnLine.restockWarehouse)
    orders,
)
from resolvers.planner.core import (
    NODE_ROOTS,
    ROOTS,
    Bind,
    Compiler,
    Selected,
    TypeMapping,
    Unsupported,
    Value,
    column,
    global_id,
    iso_datetime,
    node_id,
    register,
)
from resolvers.planner.pages import keyset_root, order_id_param, time_column, uuid_column

RETURNS_READ = "returns:read"


def restock_warehouse(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.row(selected, "warehouses", lambda warehouse: f"{warehouse}.id = {alias}.restock_warehouse_id")


register(TypeMapping("ReturnLine", {
    "sku": column("sku"),
    "productName": column("product_name"),
    "quantity": column("quantity"),
    "reason": column("reason"),
    "inspection": column("inspection"),
    "inspectionNote": column("inspection_note"),
    "restockWarehouse": restock_warehouse,
    "id": node_id("ReturnLine"),
    "orderLineId": lambda c, alias, s: global_id("OrderLine", f"{alias}.order_line_id"),
}, table="return_lines"))


def related_order(id_column: str) -> Any:
    """resolvers.returns.related_order: null when none is linked, else the order (needs orders:read: without it the
    ordinary path refuses a linked one, so the field is left to it)."""

    def sql(c: Compiler, alias: Any, selected: Selected) -> Value:
        if not c.has("orders:read"):
            raise Unsupported(f"{selected.parent.name}.{selected.name} without orders:read")
        return c.row(selected, "orders", lambda order: f"{order}.id = {alias}.{id_column}")

    return sql


def return_lines(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.rows(selected, "return_lines", lambda line: f"{line}.return_id = {alias}.id", lambda line: f"{line}.position")


def price_difference(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.optional(selected, (f"{alias}.price_difference", f"{alias}.currency"), f"{alias}.price_difference IS NOT NULL", "Money")


register(TypeMapping("Return", {
    "id": node_id("Return"),
    "number": column("number"),
    "status": column("status"),
    "resolution": column("resolution"),
    "reason": column("reason"),
    "requestedBy": column("requested_by"),
    "decisionNote": column("decision_note"),
    "createdAt": column("created_at", iso_datetime),
    "decidedAt": column("decided_at", iso_datetime),
    "receivedAt": column("received_at", iso_datetime),
    "lines": return_lines,
    "value": orders.money("value", "currency"),
    "refundedAmount": orders.money("refunded_amount", "currency"),
    "priceDifference": price_difference,
    "order": related_order("order_id"),
    "replacementOrder": related_order("replacement_order_id"),
}, table="returns"))


def order_returns(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.returns.order_returns (needs returns:read): by createdAt, as the loader."""
    if not c.has(RETURNS_READ):
        raise Unsupported("Order.returns without returns:read")
    return c.rows(selected, "returns", lambda ret: f"{ret}.order_id = {alias}.id", lambda ret: f"{ret}.created_at")


orders.ORDER.fields["returns"] = order_returns


# ---------------------------------------------------------------- Inquiry, InquiryMessage, Order.inquiries

register(TypeMapping("InquiryMessage", {
    "authorType": column("author_type"),
    "body": column("body"),
    "createdAt": column("created_at", iso_datetime),
    # resolvers.returns.staff_author: who wrote it, for staff (orders:read) only
    "author": lambda c, alias, s: f"{alias}.author" if c.has("orders:read") else "NULL::varchar",
    "id": node_id("InquiryMessage"),
}, table="inquiry_messages"))


def inquiry_messages(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.rows(selected, "inquiry_messages", lambda message: f"{message}.inquiry_id = {alias}.id", lambda message: f"{message}.created_at")


register(TypeMapping("Inquiry", {
    "id": node_id("Inquiry"),
    "number": column("number"),
    "subject": column("subject"),
    "status": column("status"),
    "openedBy": column("opened_by"),
    "createdAt": column("created_at", iso_datetime),
    "updatedAt": column("updated_at", iso_datetime),
    "messages": inquiry_messages,
    "order": related_order("order_id"),
}, table="inquiries"))


def order_inquiries(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.returns.order_inquiries (Order.inquiries needs Inquiry's read scope, orders:read): by createdAt, as the loader."""
    if not c.has("orders:read"):
        raise Unsupported("Order.inquiries without orders:read")
    return c.rows(selected, "inquiries", lambda inquiry: f"{inquiry}.order_id = {alias}.id", lambda inquiry: f"{inquiry}.created_at")


orders.ORDER.fields["inquiries"] = order_inquiries


# ---------------------------------------------------------------- root: returns, node(Return)


def _filter(bind: Bind) -> Any:
    return bind.args.get("filter")


def returns_root(c: Compiler, selected: Selected) -> str:
    """resolvers.returns.list_returns: newest first on (createdAt, id), by order and status."""
    by_order, by_status = c.shape("returns.filter", lambda bind: (
        _filter(bind) is not None and _filter(bind).order_id is not None, _filter(bind) is not None and bool(_filter(bind).status)))
    conditions = []
    if by_order:
        conditions.append(f"order_id = {order_id_param(c, lambda bind: _filter(bind).order_id)}")
    if by_status:
        conditions.append(f"status = ANY({c.param(lambda bind: [s.value for s in _filter(bind).status], 'varchar[]')})")
    return keyset_root(c, selected, table="returns", node_type="Return", columns=(time_column("created_at"), uuid_column("id")),
                       keys=lambda: (pagination.time_key(ReturnRequest.created_at), pagination.uuid_key(ReturnRequest.id)),
                       conditions=conditions, descending=True)


ROOTS["Query.returns"] = returns_root
NODE_ROOTS["Return"] = "returns"
NODE_ROOTS["Inquiry"] = "inquiries"
