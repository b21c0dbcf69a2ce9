"""Payments and invoices. (Filled in by the payments and invoicing issue.)"""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from models import Order


def is_payment(obj: Any) -> bool:
    return False


def is_invoice(obj: Any) -> bool:
    return False


async def order_invoices(root: Order, info: Info) -> list[Any]:
    return []


async def order_payments(root: Order, info: Info) -> list[Any]:
    return []


async def invoice_order(root: Any, info: Info) -> Any:
    return await info.context.loaders.order.load(root.order_id)


async def invoice_corrects(root: Any, info: Info) -> Any:
    return None


async def invoice_tax_breakdown(root: Any, info: Info) -> list[Any]:
    return []


def invoice_pdf_url(root: Any) -> str:
    return f"/documents/invoices/{root.number}.pdf"


async def invoices(info: Info, first: int | None = None, after: str | None = None, order_id: str | None = None) -> Any:
    raise NotImplementedError("invoices arrive with the payments and invoicing issue")


async def invoice(info: Info, number: str) -> Any:
    return None


async def capture_payment(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def record_payment(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def refund_payment(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def issue_invoice(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def load_payment(info: Info, key: Any) -> Any:
    return None


async def load_invoice(info: Info, key: Any) -> Any:
    return None
