"""Persistence: typed SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from models import alerts, billing, drafts, edits, fulfilment, holds, placement, receipts, returns, shipping, sourcing, webhooks  # noqa: F401  (registers their tables)
from models.access import ApiKey
from models.base import Base
from models.catalog import Product, StockLevel, StockMovement, Warehouse
from models.counters import Counter
from models.orders import Allocation, Customer, Order, OrderEvent, OrderLine

__all__ = [
    "Allocation",
    "ApiKey",
    "Base",
    "Counter",
    "Customer",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Product",
    "StockLevel",
    "StockMovement",
    "Warehouse",
]
