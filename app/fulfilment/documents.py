"""Shipping documents: a pick list as CSV (for warehouse systems) and an order's packing slip as PDF.

Rendering is separate from loading, so the content can be tested without HTTP. The packing slip
carries the ship-to address and the items but no prices: it travels inside the parcel.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Order, OrderLine, Warehouse
from models.fulfilment import PickList, PickListLine, Shipment

CSV_HEADER = ("pick_list", "warehouse", "order_number", "sku", "product_name", "quantity")
# Spreadsheets run cells starting with these as formulas (CSV injection): such text gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Document:
    filename: str
    media_type: str
    body: bytes


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


async def pick_list_csv(session: AsyncSession, *, pick_list_id: uuid.UUID) -> Document | None:
    row = (
        await session.execute(select(PickList, Warehouse.code).join(Warehouse, Warehouse.id == PickList.warehouse_id).where(PickList.id == pick_list_id))
    ).first()
    if row is None:
        return None
    pick_list, warehouse_code = row
    lines = (
        await session.execute(select(PickListLine).where(PickListLine.pick_list_id == pick_list.id).order_by(PickListLine.position))
    ).scalars().all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in lines:
        writer.writerow([_cell(v) for v in (pick_list.number, warehouse_code, line.order_number, line.sku, line.product_name, line.quantity)])
    return Document(f"{pick_list.number}.csv", "text/csv; charset=utf-8", out.getvalue().encode("utf-8"))


def _latin1(text: Any) -> str:
    # The PDF core fonts cover Latin-1; anything else prints as '?' rather than failing the download.
    return str(text if text is not None else "").encode("latin-1", "replace").decode("latin-1")


def _address_lines(address: dict[str, Any]) -> list[str]:
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    return [
        part for part in (
            address.get("name"), address.get("line1"), address.get("line2"), city, address.get("region"), address.get("country"), address.get("phone"),
        ) if part
    ]


def render_packing_slip(*, order: Order, lines: list[OrderLine], shipments: list[tuple[Shipment, str]], printed_at: datetime) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Packing slip {order.number}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Packing slip - order {order.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, _latin1(f"Placed {order.placed_at:%Y-%m-%d}   Printed {printed_at:%Y-%m-%d %H:%M} UTC"), new_x="LMARGIN", new_y="NEXT")
    if order.estimated_delivery_date:
        pdf.cell(0, 6, _latin1(f"Estimated delivery {order.estimated_delivery_date:%Y-%m-%d}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Ship to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for text in _address_lines(order.shipping_address or {}):
        pdf.cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    widths = (40, 90, 20, 20)
    pdf.set_font("Helvetica", "B", 10)
    for width, title in zip(widths, ("SKU", "Product", "Ordered", "Shipped"), strict=True):
        pdf.cell(width, 7, title, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    for line in lines:
        name = line.product_name if len(line.product_name) <= 48 else line.product_name[:47] + "..."
        for width, value, align in zip(widths, (line.sku, name, line.quantity, line.quantity_shipped), ("L", "L", "R", "R"), strict=True):
            pdf.cell(width, 6, _latin1(value), border=1, align=align)
        pdf.ln()
    if shipments:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 7, "Shipments", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        for shipment, warehouse_code in shipments:
            pdf.cell(
                0, 5, _latin1(f"{shipment.shipped_at:%Y-%m-%d} from {warehouse_code} with {shipment.carrier}, tracking {shipment.tracking_number or '-'}"),
                new_x="LMARGIN", new_y="NEXT",
            )
    return bytes(pdf.output())


async def packing_slip_pdf(session: AsyncSession, *, order_id: uuid.UUID, printed_at: datetime) -> Document | None:
    order = (await session.execute(select(Order).where(Order.id == order_id))).scalar_one_or_none()
    if order is None:
        return None
    lines = list((await session.execute(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position))).scalars())
    shipments = [
        (shipment, code)
        for shipment, code in (
            await session.execute(
                select(Shipment, Warehouse.code).join(Warehouse, Warehouse.id == Shipment.warehouse_id)
                .where(Shipment.order_id == order.id).order_by(Shipment.shipped_at)
            )
        ).all()
    ]
    body = render_packing_slip(order=order, lines=lines, shipments=shipments, printed_at=printed_at)
    return Document(f"packing-slip-{order.number}.pdf", "application/pdf", body)
