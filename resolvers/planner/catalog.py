"""Planner mappings of the catalogue: Product, StockLevel (Warehouse is in fulfilment.py); the roots `products` and
`stockLevels`; the Product and StockLevel nodes. Each expression reproduces graphql_schema/catalog.py and
resolvers/catalog.py."""

from __future__ import annotations

from typing import Any

from models import Product, StockLevel
from resolvers import pagination
from resolvers.planner import (
    fulfilment,  # noqa: F401  (registers Warehouse: StockLevel.warehouse)
    orders,
)
from resolvers.planner.core import (
    NODE_ROOTS,
    ROOTS,
    Compiler,
    Selected,
    TypeMapping,
    Unsupported,
    Value,
    column,
    decimal_text,
    node_id,
    register,
)
from resolvers.planner.pages import keyset_root, text_column, uuid_column

STOCK_READ = "stock:read"


def stock_level_warehouse(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.row(selected, "warehouses", lambda warehouse: f"{warehouse}.id = {alias}.warehouse_id")


register(TypeMapping("StockLevel", {
    "id": node_id("StockLevel"),
    "sku": column("sku"),
    "onHand": column("on_hand"),
    "reserved": column("reserved"),
    "warehouse": stock_level_warehouse,
    "available": lambda c, alias, s: f"greatest({alias}.on_hand - {alias}.reserved, 0)",
}, table="stock_levels"))


def product_stock_levels(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.catalog.product_stock_levels (the loader by sku, ordered by warehouse id); needs stock:read."""
    if not c.has(STOCK_READ):
        raise Unsupported("Product.stockLevels without stock:read")
    return c.rows(selected, "stock_levels", lambda level: f"{level}.sku = {alias}.sku", lambda level: f"{level}.warehouse_id")


register(TypeMapping("Product", {
    "id": node_id("Product"),
    "sku": column("sku"),
    "name": column("name"),
    "taxRate": column("tax_rate", decimal_text),
    "madeToOrder": column("made_to_order"),
    "leadTimeDays": column("lead_time_days"),
    "stockLevels": product_stock_levels,
    "price": orders.money("price", "currency"),
}, table="products"))


# ---------------------------------------------------------------- roots: products, stockLevels


def _search(value: Any) -> str:
    """resolvers.catalog.products' ILIKE pattern (backslash is PostgreSQL's default LIKE escape)."""
    return "%" + value.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def products_root(c: Compiler, selected: Selected) -> str:
    conditions = []
    if c.shape("products.search", lambda bind: bool(bind.args.get("search") and bind.args["search"].strip())):
        pattern = c.param(lambda bind: _search(bind.args["search"]), "varchar")
        conditions.append(f"(sku ILIKE {pattern} OR name ILIKE {pattern})")
    return keyset_root(c, selected, table="products", node_type="Product", columns=(text_column("sku"),),
                       keys=lambda: (pagination.text_key(Product.sku),), conditions=conditions, descending=False)


def stock_levels_root(c: Compiler, selected: Selected) -> str:
    below, sku, warehouse = c.shape("stockLevels.filter", lambda bind: (
        bind.args.get("available_below") is not None, bool(bind.args.get("sku")), bool(bind.args.get("warehouse_code"))))
    conditions = []
    if below:
        conditions.append(f"(on_hand - reserved) < {c.param(lambda bind: bind.args['available_below'], 'int')}")
    if sku:
        conditions.append(f"sku = {c.param(lambda bind: bind.args['sku'], 'varchar')}")
    if warehouse:
        code = c.param(lambda bind: bind.args["warehouse_code"], "varchar")
        conditions.append(f"warehouse_id IN (SELECT __w.id FROM warehouses __w WHERE __w.code = {code})")
    return keyset_root(c, selected, table="stock_levels", node_type="StockLevel", columns=(text_column("sku"), uuid_column("warehouse_id")),
                       keys=lambda: (pagination.text_key(StockLevel.sku), pagination.uuid_key(StockLevel.warehouse_id)),
                       conditions=conditions, descending=False)


ROOTS["Query.products"] = products_root
ROOTS["Query.stockLevels"] = stock_levels_root
NODE_ROOTS["Product"] = "products"
NODE_ROOTS["StockLevel"] = "stock_levels"
