"""Invoice and credit-note documents (PDF and HTML), rendered from the frozen invoice row only,
so a document downloaded today and in ten years shows the same thing."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from fpdf import FPDF

from models.billing import Invoice

TITLES = {"INVOICE": "Invoice", "CREDIT_NOTE": "Credit note"}


def _percent(rate: str | Decimal) -> str:
    value = (Decimal(rate) * 100).normalize()
    return f"{value:f}%"


def _buyer_lines(buyer: dict[str, Any]) -> list[str]:
    city = " ".join(p for p in (buyer.get("postal_code"), buyer.get("city")) if p)
    parts = [buyer.get("name"), buyer.get("line1"), buyer.get("line2"), city, buyer.get("region"), buyer.get("country"), buyer.get("email")]
    return [str(p) for p in parts if p]


def _seller_lines(seller: dict[str, Any]) -> list[str]:
    return [str(seller[k]) for k in ("name", "tax_id", "address", "email") if seller.get(k)]


def _header(invoice: Invoice, corrects_number: str | None) -> list[str]:
    rows = [f"Number: {invoice.number}", f"Issued: {invoice.issued_at:%Y-%m-%d}", f"Order: {invoice.order_number}"]
    if corrects_number:
        rows.append(f"Corrects invoice: {corrects_number}")
    if invoice.reason:
        rows.append(f"Reason: {invoice.reason}")
    return rows


def _latin1(value: object) -> str:
    # The PDF core fonts cover Latin-1 (enough for names like "García"); anything else becomes "?".
    return str(value).encode("latin-1", "replace").decode("latin-1")


def render_pdf(invoice: Invoice, *, corrects_number: str | None = None) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"{TITLES[invoice.kind]} {invoice.number}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"{TITLES[invoice.kind]} {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for text in _header(invoice, corrects_number):
        pdf.cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(95, 5, "Seller", new_x="RIGHT", new_y="TOP")
    pdf.cell(95, 5, "Bill to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    seller, buyer = _seller_lines(invoice.seller), _buyer_lines(invoice.buyer)
    for i in range(max(len(seller), len(buyer))):
        pdf.cell(95, 5, _latin1(seller[i] if i < len(seller) else ""), new_x="RIGHT", new_y="TOP")
        pdf.cell(95, 5, _latin1(buyer[i] if i < len(buyer) else ""), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    widths = (25, 70, 15, 25, 20, 35)
    pdf.set_font("Helvetica", "B", 9)
    for width, title, align in zip(widths, ("SKU", "Description", "Qty", "Unit price", "VAT", "Amount"), "LLRRRR", strict=True):
        pdf.cell(width, 6, title, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for line in invoice.lines:
        values = (line["sku"] or "", line["description"], str(line["quantity"]), line["unit_price"], _percent(line["tax_rate"]), line["total"])
        for width, value, align in zip(widths, values, "LLRRRR", strict=True):
            pdf.cell(width, 6, _latin1(value)[:48], align=align)
        pdf.ln()
    pdf.ln(4)

    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 6, "VAT breakdown", new_x="LMARGIN", new_y="NEXT")
    for width, title in zip((40, 50, 50), ("Rate", "Base", "VAT"), strict=True):
        pdf.cell(width, 6, title, border="B", align="R")
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for row in invoice.tax_breakdown:
        for width, value in zip((40, 50, 50), (_percent(row["rate"]), f"{row['base']} {invoice.currency}", f"{row['tax']} {invoice.currency}"), strict=True):
            pdf.cell(width, 6, value, align="R")
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    for label, amount in (("Subtotal", invoice.subtotal), ("VAT", invoice.tax_total), ("Total", invoice.total)):
        pdf.cell(140, 6, label, align="R")
        pdf.cell(50, 6, f"{amount} {invoice.currency}", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render_html(invoice: Invoice, *, corrects_number: str | None = None) -> str:
    e = html.escape
    title = f"{TITLES[invoice.kind]} {invoice.number}"
    lines = "".join(
        f"<tr><td>{e(line['sku'] or '')}</td><td>{e(line['description'])}</td><td class=n>{line['quantity']}</td>"
        f"<td class=n>{e(line['unit_price'])}</td><td class=n>{e(_percent(line['tax_rate']))}</td><td class=n>{e(line['total'])}</td></tr>"
        for line in invoice.lines
    )
    breakdown = "".join(
        f"<tr><td class=n>{e(_percent(r['rate']))}</td><td class=n>{e(r['base'])}</td><td class=n>{e(r['tax'])}</td></tr>"
        for r in invoice.tax_breakdown
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}td,th{{padding:2px 8px}}.n{{text-align:right}}</style>
</head><body>
<h1>{e(title)}</h1>
<p>{"<br>".join(e(r) for r in _header(invoice, corrects_number))}</p>
<table><tr><th>Seller</th><th>Bill to</th></tr><tr>
<td>{"<br>".join(e(r) for r in _seller_lines(invoice.seller))}</td><td>{"<br>".join(e(r) for r in _buyer_lines(invoice.buyer))}</td>
</tr></table>
<table><thead><tr><th>SKU</th><th>Description</th><th>Qty</th><th>Unit price</th><th>VAT</th><th>Amount ({e(invoice.currency)})</th></tr></thead>
<tbody>{lines}</tbody></table>
<h2>VAT breakdown</h2>
<table><thead><tr><th>Rate</th><th>Base</th><th>VAT</th></tr></thead><tbody>{breakdown}</tbody></table>
<table>
<tr><th class=n>Subtotal</th><td class=n>{invoice.subtotal} {e(invoice.currency)}</td></tr>
<tr><th class=n>VAT</th><td class=n>{invoice.tax_total} {e(invoice.currency)}</td></tr>
<tr><th class=n>Total</th><td class=n>{invoice.total} {e(invoice.currency)}</td></tr>
</table>
</body></html>
"""
