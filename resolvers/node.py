"""`node(id:)`: any refetchable object by global ID, subject to the read scope of its kind.

NODE_TYPES is the one registry of refetchable types: GraphQL type name -> model, read scope and
loader. node(id:) decodes and loads through it, the schema's Node types are checked against it
(graphql_schema.schema) and tell ORM rows apart by its models (graphql_schema.common.Node).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic

from strawberry.dataloader import DataLoader

from models import Order, Product, StockLevel, Warehouse
from models.alerts import Alert
from models.billing import Invoice, Payment
from models.drafts import DraftOrder
from models.fulfilment import PickList, Shipment
from models.returns import Inquiry, ReturnRequest
from models.webhooks import WebhookDelivery, WebhookEndpoint
from resolvers.ids import from_global_id
from resolvers.loaders import IdentifiedT, Loaders
from resolvers.planner.api import planned
from resolvers.types import Info


@dataclass(frozen=True, slots=True)
class NodeType(Generic[IdentifiedT]):
    model: type[IdentifiedT]
    scope: str  # node(id:) answers only a key with this scope

    def loader(self, loaders: Loaders) -> DataLoader[uuid.UUID, IdentifiedT | None]:
        # The request's one loader of these rows by id: shared with nested fields and primed by lists.
        return loaders.by_id(self.model)


NODE_TYPES: dict[str, NodeType[Any]] = {
    "Order": NodeType(Order, "orders:read"),
    "Product": NodeType(Product, "stock:read"),
    "Warehouse": NodeType(Warehouse, "stock:read"),
    "StockLevel": NodeType(StockLevel, "stock:read"),
    "Shipment": NodeType(Shipment, "shipments:read"),
    "PickList": NodeType(PickList, "shipments:read"),
    "Payment": NodeType(Payment, "payments:read"),
    "Invoice": NodeType(Invoice, "invoices:read"),
    "Return": NodeType(ReturnRequest, "returns:read"),
    "Inquiry": NodeType(Inquiry, "orders:read"),
    "WebhookEndpoint": NodeType(WebhookEndpoint, "webhooks:read"),  # hooks, issue 17
    "WebhookDelivery": NodeType(WebhookDelivery, "webhooks:read"),
    "DraftOrder": NodeType(DraftOrder, "orders:read"),  # drafts, issue 18
    "Alert": NodeType(Alert, "orders:read"),  # alerts, issue 19 (a LOW_STOCK one: stock:read too, checked by the resolvers of its lists)
}


def model_of(type_name: str) -> type[object]:
    """The model whose rows a node type shows."""
    return NODE_TYPES[type_name].model


async def node(info: Info, id: str) -> object | None:
    decoded = from_global_id(id)
    if decoded is None or decoded[0] not in NODE_TYPES:
        return None
    kind = NODE_TYPES[decoded[0]]
    await info.context.require(kind.scope)
    if (json := await planned(info, "Query.node", {"id": decoded[1]}, node_type=decoded[0])) is not None:
        return json
    return await kind.loader(info.context.loaders).load(decoded[1])
