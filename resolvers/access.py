"""Object-level access on every path (issue 13): one declared policy per type and per cross-type field.

Root fields check their own scope in their resolvers (ROOT_POLICIES names it, the schema-walk test
calls each one without and with a wrong key). Every other field that reaches a Node type is wrapped
at schema build (`install`) by a guard that applies its FIELD_POLICIES entry:

- TARGET: the caller needs the target type's read scope (resolvers.node.NODE_TYPES), e.g.
  `Invoice.order` needs orders:read even though `invoice(number:)` needed only invoices:read.
- TARGET_OR_PUBLIC: the same, or the field is reached under a public root field (the tracking
  pair was checked there), e.g. the Return a customer just requested.
- TARGET_IF_LINKED: the same when a row is linked; null when none is (whether a return has a
  replacement order is already part of the return: its resolution).
- WRITTEN: a mutation payload's own object: the mutation checked the write scope (or the tracking
  pair) before writing it, so the writer sees what it wrote.
- EMBEDDED: reference data shown with its parent (the warehouse a shipment leaves from).

Refusals raise FORBIDDEN/UNAUTHENTICATED whatever the target row is, so a foreign object answers
exactly like a missing one. Types that are not Node types are values of their parent (VALUE_TYPES,
each with its owner); `install` refuses to build a schema with an undeclared type or cross-type field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    default_field_resolver,
    get_named_type,
    is_leaf_type,
    is_object_type,
)

from resolvers.node import NODE_TYPES


class Policy(enum.Enum):
    TARGET = "needs the target type's read scope"
    TARGET_OR_PUBLIC = "needs the target type's read scope, or a public root (tracking pair)"
    TARGET_IF_LINKED = "needs the target type's read scope when a row is linked"
    WRITTEN = "a mutation payload's own object (the mutation checked its scope)"
    EMBEDDED = "reference data shown with its parent"


PUBLIC = "public (tracking pair)"
ROOT_TYPES = ("Query", "Mutation", "Subscription")

# Root fields: the scope their resolver requires (or PUBLIC).
ROOT_POLICIES: dict[str, str] = {
    "Query.node": "the read scope of the node's type",
    "Query.order": "orders:read", "Query.orders": "orders:read", "Query.orderStats": "orders:read",
    "Query.products": "stock:read", "Query.warehouses": "stock:read", "Query.stockLevels": "stock:read",
    "Query.carriers": "shipments:read", "Query.shipments": "shipments:read",
    "Query.invoices": "invoices:read", "Query.invoice": "invoices:read",
    "Query.returns": "returns:read", "Query.inquiries": "orders:read",
    "Query.trackOrder": PUBLIC, "Query.trackedReturns": PUBLIC, "Query.trackedInquiries": PUBLIC,
    "Mutation.placeOrder": "orders:write", "Mutation.confirmOrder": "orders:write", "Mutation.holdOrder": "orders:write",
    "Mutation.releaseOrder": "orders:write", "Mutation.cancelOrder": "orders:write",
    "Mutation.adjustStock": "stock:write", "Mutation.upsertProduct": "stock:write", "Mutation.upsertWarehouse": "stock:write",
    "Mutation.createPickList": "shipments:write", "Mutation.createShipment": "shipments:write",
    "Mutation.recordTrackingEvent": "shipments:write",
    "Mutation.capturePayment": "payments:write", "Mutation.recordPayment": "payments:write", "Mutation.refundPayment": "payments:write",
    "Mutation.issueInvoice": "invoices:write",
    "Mutation.requestReturn": "returns:write", "Mutation.approveReturn": "returns:write", "Mutation.rejectReturn": "returns:write",
    "Mutation.receiveReturn": "returns:write",
    "Mutation.openInquiry": "orders:write", "Mutation.replyToInquiry": "orders:write", "Mutation.closeInquiry": "orders:write",
    "Mutation.requestCustomerReturn": PUBLIC, "Mutation.openCustomerInquiry": PUBLIC, "Mutation.postCustomerInquiryMessage": PUBLIC,
    "Mutation.importOrders": "orders:write", "Mutation.updateOrderMetadata": "orders:write",  # partner, issue 17
    "Subscription.orderStatusChanged": "orders:read", "Subscription.stockLevelChanged": "stock:read", "Subscription.trackOrder": PUBLIC,
    # hooks, issue 17
    "Query.webhookEndpoints": "webhooks:read", "Mutation.createWebhookEndpoint": "webhooks:write",
    "Mutation.updateWebhookEndpoint": "webhooks:write", "Mutation.deleteWebhookEndpoint": "webhooks:write",
    "Mutation.replayWebhookDeliveries": "webhooks:write",
    # drafts, issue 18
    "Query.draftOrders": "orders:read", "Mutation.createDraftOrder": "orders:write", "Mutation.updateDraftOrder": "orders:write",
    "Mutation.completeDraftOrder": "orders:write",
    # edits, issue 18
    "Mutation.editOrder": "orders:write", "Mutation.cancelOrderLines": "orders:write",
    # alerts, issue 19 (LOW_STOCK alerts: stock:read too)
    "Query.alerts": "orders:read", "Subscription.alertRaised": "orders:read", "Mutation.setLowStockThreshold": "stock:write",
    "Mutation.advanceProduction": "orders:write",  # stages, issue 19
    "Mutation.setSourcingRules": "stock:write", "Query.sourcingRules": "stock:read", "Mutation.reallocateOrder": "orders:write",  # sourcing, issue 19
    "Mutation.markReadyForPickup": "shipments:write", "Mutation.collectOrder": "shipments:write",  # pickup, issue 19
    # backorders, issue 19
    "Query.stockReceipts": "stock:read", "Mutation.scheduleReceipt": "stock:write", "Mutation.receiveStock": "stock:write",
}
PUBLIC_ROOTS = frozenset(name.split(".", 1)[1] for name, scope in ROOT_POLICIES.items() if scope == PUBLIC)

# Every field of a non-root type whose type is a Node type.
FIELD_POLICIES: dict[str, Policy] = {
    "Order.shipments": Policy.TARGET, "Order.invoices": Policy.TARGET, "Order.payments": Policy.TARGET,
    "Order.returns": Policy.TARGET, "Order.inquiries": Policy.TARGET,
    "OrderEdge.node": Policy.TARGET, "OrderStatusChange.order": Policy.TARGET,
    "OrderPayload.order": Policy.WRITTEN, "PlaceOrderPayload.order": Policy.WRITTEN,
    "Invoice.order": Policy.TARGET, "Invoice.corrects": Policy.TARGET,
    "InvoiceEdge.node": Policy.TARGET, "InvoicePayload.invoice": Policy.WRITTEN,
    "PaymentPayload.payment": Policy.WRITTEN, "PaymentPayload.order": Policy.TARGET,
    "Shipment.order": Policy.TARGET, "Shipment.warehouse": Policy.EMBEDDED,
    "Shipment.transferTo": Policy.EMBEDDED,  # transfers, issue 19: as Shipment.warehouse
    "ShipmentEdge.node": Policy.TARGET, "ShipmentPayload.shipment": Policy.WRITTEN,
    "OrderTracking.shipments": Policy.TARGET_OR_PUBLIC,
    "PickList.warehouse": Policy.EMBEDDED, "PickListPayload.pickList": Policy.WRITTEN,
    "Product.stockLevels": Policy.TARGET, "ProductEdge.node": Policy.TARGET, "ProductPayload.product": Policy.WRITTEN,
    "StockLevel.warehouse": Policy.EMBEDDED, "StockLevelEdge.node": Policy.TARGET, "StockLevelPayload.stockLevel": Policy.WRITTEN,
    "WarehousePayload.warehouse": Policy.WRITTEN,
    "Return.order": Policy.TARGET_IF_LINKED, "Return.replacementOrder": Policy.TARGET_IF_LINKED,
    "ReturnLine.restockWarehouse": Policy.EMBEDDED,
    "ReturnEdge.node": Policy.TARGET, "ReturnPayload.return": Policy.WRITTEN,
    "Inquiry.order": Policy.TARGET_IF_LINKED, "InquiryEdge.node": Policy.TARGET, "InquiryPayload.inquiry": Policy.WRITTEN,
    # hooks, issue 17
    "WebhookEndpointEdge.node": Policy.TARGET, "WebhookDeliveryEdge.node": Policy.TARGET, "WebhookDelivery.order": Policy.TARGET,
    "CreateWebhookEndpointPayload.endpoint": Policy.WRITTEN, "WebhookEndpointPayload.endpoint": Policy.WRITTEN,
    "ReplayWebhookDeliveriesPayload.endpoint": Policy.WRITTEN,
    # drafts, issue 18
    "DraftOrder.order": Policy.TARGET_IF_LINKED, "DraftOrderEdge.node": Policy.TARGET, "DraftOrderPayload.draftOrder": Policy.WRITTEN,
    "CompleteDraftOrderPayload.draftOrder": Policy.WRITTEN, "CompleteDraftOrderPayload.order": Policy.WRITTEN,
    "ImportOrderResult.order": Policy.WRITTEN,  # partner, issue 17
    # edits, issue 18
    "EditOrderPayload.order": Policy.WRITTEN,
    # alerts, issue 19
    "AlertEdge.node": Policy.TARGET, "Alert.order": Policy.TARGET_IF_LINKED, "Alert.warehouse": Policy.TARGET_IF_LINKED,
    "LowStockThresholdPayload.product": Policy.WRITTEN,
    "AdvanceProductionPayload.order": Policy.WRITTEN,  # stages, issue 19
    # pickup, issue 19: the pickup point is reference data shown with the order (as a shipment's warehouse), also publicly
    "Order.pickupPoint": Policy.EMBEDDED, "OrderTracking.pickupPoint": Policy.EMBEDDED, "CollectOrderPayload.order": Policy.WRITTEN,
    "StockReceipt.warehouse": Policy.EMBEDDED,  # backorders, issue 19
}

# Object types that are not Node types: values read with (and only through) their owner.
VALUE_TYPES: dict[str, str] = {
    "Address": "Order", "Money": "its parent object", "OrderLine": "Order", "OrderEvent": "Order / OrderTracking",
    "OrderStats": "Query.orderStats (orders:read)", "OrderTracking": "public tracking view (pair checked at the root)",
    "Carrier": "Query.carriers (shipments:read)", "TrackingEvent": "Shipment", "PickListLine": "PickList",
    "InvoiceLine": "Invoice", "TaxBreakdown": "Invoice", "ReturnLine": "Return", "InquiryMessage": "Inquiry",
    "OrderStatusChange": "Subscription.orderStatusChanged (orders:read)", "PageInfo": "its connection",
    "UserError": "its payload",
    # partner, issue 17 (Order.privateMetadata checks orders:write in its resolver)
    "MetadataItem": "Order", "ImportOrderResult": "Mutation.importOrders", "ImportOrdersPayload": "Mutation.importOrders",
    **{f"{kind}{suffix}": "its root field" for kind in ("Order", "Product", "StockLevel", "Shipment", "Invoice", "Return", "Inquiry")
       for suffix in ("Connection", "Edge")},
    "OrderEventConnection": "Order", "OrderEventEdge": "Order",
    **{f"{kind}Payload": "its mutation" for kind in (
        "Order", "PlaceOrder", "StockLevel", "Product", "Warehouse", "PickList", "Shipment", "Payment", "Invoice", "Return", "Inquiry")},
    # hooks, issue 17
    "WebhookAttempt": "WebhookDelivery", "WebhookEndpointConnection": "Query.webhookEndpoints (webhooks:read)",
    "WebhookDeliveryConnection": "WebhookEndpoint", "WebhookEndpointEdge": "its connection", "WebhookDeliveryEdge": "its connection",
    **{f"{kind}Payload": "its mutation" for kind in ("CreateWebhookEndpoint", "WebhookEndpoint", "DeleteWebhookEndpoint", "ReplayWebhookDeliveries")},
    # drafts, issue 18
    "DraftOrderLine": "DraftOrder", "DraftOrderPreview": "DraftOrder", "DraftOrderPreviewLine": "DraftOrder",
    "DraftOrderConnection": "its root field", "DraftOrderEdge": "its root field", "DraftOrderPayload": "its mutation",
    "CompleteDraftOrderPayload": "its mutation",
    # edits, issue 18
    "EditOrderPayload": "its mutation", "OrderEditPreview": "EditOrderPayload", "OrderEditLine": "OrderEditPreview",
    "StockChange": "OrderEditPreview",
    # alerts, issue 19
    "AlertConnection": "Query.alerts (orders:read)", "AlertEdge": "its connection", "LowStockThresholdPayload": "its mutation",
    "AdvanceProductionPayload": "its mutation",  # stages, issue 19
    "OpeningHours": "Warehouse", "CollectOrderPayload": "its mutation",  # pickup, issue 19
    "SourcingRule": "Query.sourcingRules (stock:read) / SetSourcingRulesPayload", "SetSourcingRulesPayload": "its mutation",  # sourcing, issue 19
    # backorders, issue 19
    "StockReceipt": "Query.stockReceipts (stock:read) / its mutation", "StockReceiptConnection": "Query.stockReceipts (stock:read)",
    "StockReceiptEdge": "its connection", "StockReceiptPayload": "its mutation",
}
# shipping, issue 19
ROOT_POLICIES.update({"Mutation.setShippingRates": "stock:write", "Query.shippingRates": "stock:read", "Query.shippingQuotes": "orders:read"})
VALUE_TYPES.update({"ShippingRate": "Query.shippingRates (stock:read)", "ShippingQuote": "Query.shippingQuotes (orders:read)",
                    "SetShippingRatesPayload": "its mutation"})
# holds, issue 18
ROOT_POLICIES["Mutation.assessOrderRisk"] = "orders:write"
VALUE_TYPES.update({"OrderHold": "Order", "OrderRisk": "Order", "RiskFact": "OrderRisk"})


def read_scope(type_name: str) -> str:
    return NODE_TYPES[type_name].scope


def _root_field(info: GraphQLResolveInfo) -> str | None:
    """The root field (its name, not its alias) under which this field is resolved."""
    path = info.path
    while path.prev is not None:
        path = path.prev
    key = path.key
    stack: list[SelectionSetNode] = [info.operation.selection_set]
    seen: set[str] = set()
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                if (selection.alias or selection.name).value == key:
                    return selection.name.value
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = info.fragments.get(selection.name.value)
                if fragment is not None:
                    stack.append(fragment.selection_set)
    return None


def under_public_root(info: GraphQLResolveInfo) -> bool:
    return info.operation.operation.value in ("query", "mutation", "subscription") and _root_field(info) in PUBLIC_ROOTS


Resolver = Callable[..., Any]


def _guard_if_linked(resolve: Resolver, scope: str) -> Resolver:
    async def guarded(root: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        result = resolve(root, info, **kwargs)
        result = await result if isawaitable(result) else result
        if result is not None:
            await info.context.require(scope)
        return result

    guarded.__oms_access__ = (scope, False)  # type: ignore[attr-defined]
    return guarded


def _guard(resolve: Resolver, scope: str, public_ok: bool) -> Resolver:
    async def checked(root: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        try:
            await info.context.require(scope)
        except Exception:
            if not (public_ok and under_public_root(info)):
                raise
        result = resolve(root, info, **kwargs)
        return await result if isawaitable(result) else result

    def guarded(root: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        known, principal = info.context.cached_principal()
        if not known:
            return checked(root, info, **kwargs)  # the key is looked up once per request, then this is synchronous
        if (principal is None or not principal.has(scope)) and not (public_ok and under_public_root(info)):
            return checked(root, info, **kwargs)  # raises the same error as `require`
        return resolve(root, info, **kwargs)

    guarded.__oms_access__ = (scope, public_ok)  # type: ignore[attr-defined]
    return guarded


def install(schema: GraphQLSchema) -> dict[str, str]:
    """Wrap every guarded field's resolver; returns {"Type.field": scope} of what it guarded. Raises when a
    type or a cross-type field has no declared policy (a new field cannot ship unguarded)."""
    guarded: dict[str, str] = {}
    problems: list[str] = []
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or not is_object_type(type_):
            continue
        if type_name not in ROOT_TYPES and type_name not in NODE_TYPES and type_name not in VALUE_TYPES:
            problems.append(f"type {type_name} has no access policy")
        for field_name, field in type_.fields.items():
            qualified = f"{type_name}.{field_name}"
            if type_name in ROOT_TYPES:
                if qualified not in ROOT_POLICIES:
                    problems.append(f"root field {qualified} has no access policy")
                continue
            target = get_named_type(field.type)
            if is_leaf_type(target) or target.name not in NODE_TYPES:
                continue
            policy = FIELD_POLICIES.get(qualified)
            if policy is None:
                problems.append(f"field {qualified} reaches {target.name} with no access policy")
                continue
            if policy in (Policy.TARGET, Policy.TARGET_OR_PUBLIC):
                scope = read_scope(target.name)
                field.resolve = _guard(field.resolve or default_field_resolver, scope, policy is Policy.TARGET_OR_PUBLIC)
                guarded[qualified] = scope
            elif policy is Policy.TARGET_IF_LINKED:
                scope = read_scope(target.name)
                field.resolve = _guard_if_linked(field.resolve or default_field_resolver, scope)
                guarded[qualified] = scope
    if problems:
        raise RuntimeError("Access policies missing (resolvers/access.py): " + "; ".join(problems))
    return guarded
