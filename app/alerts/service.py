"""Alert rules that are not the scanner's: the per-product low-stock threshold (issue 19)."""

from __future__ import annotations

from sqlalchemy import select

from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from models import Product

MAX_THRESHOLD = 1_000_000


async def set_low_stock_threshold(*, uow: UnitOfWork, sku: str, threshold: int | None) -> Product:
    """LOW_STOCK is raised for a warehouse whose available units of `sku` fall below `threshold`; None turns it off.
    The next scan raises or clears accordingly."""
    if threshold is not None and not 0 <= threshold <= MAX_THRESHOLD:
        raise DomainError(ErrorCode.INVALID_INPUT, f"threshold is between 0 and {MAX_THRESHOLD}, or null.", ("threshold",))
    product = (await uow.session.execute(select(Product).where(Product.sku == sku.strip()).with_for_update())).scalar_one_or_none()
    if product is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"No product {sku.strip()!r}.", ("sku",))
    product.low_stock_threshold = threshold
    return product
