"""A draft's preview prices exactly as placement does (no database): random drafts, with repeated SKUs, customizations and
mixed VAT rates, priced by `app.drafts.service.price` and by placement's own `totals_of` over its resolved lines."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from app.drafts import service as drafts
from app.orders import service as orders
from app.orders.enums import SalesChannel
from models import Product
from models.drafts import DraftOrder, DraftOrderLine

RATES = [Decimal("0.21"), Decimal("0.10"), Decimal("0.04"), Decimal("0")]


def catalogue(rnd: random.Random) -> dict[str, Product]:
    return {
        f"S{i}": Product(id=uuid.uuid4(), sku=f"S{i}", name=f"P{i}", price=Decimal(rnd.randint(1, 99_999)) / 100, currency="EUR",
                         tax_rate=rnd.choice(RATES), made_to_order=rnd.random() < 0.2, lead_time_days=0)
        for i in range(8)
    }


@pytest.mark.parametrize("seed", range(40))
def test_preview_totals_equal_placement_totals(seed: int) -> None:
    rnd = random.Random(seed)
    products = catalogue(rnd)
    draft = DraftOrder(id=uuid.uuid4(), channel=SalesChannel.PHONE, email="a@example.com", shipping_address={"country": "ES"})
    lines = [DraftOrderLine(sku=rnd.choice(list(products)), quantity=rnd.randint(1, 40), position=i,
                            customization=rnd.choice([None, None, {"colour": "red"}])) for i in range(rnd.randint(1, 12))]
    preview = drafts.price(draft, lines, products, {sku: 10_000 for sku in products})
    request = orders.PlaceOrderRequest(channel=SalesChannel.PHONE, email="a@example.com", shipping_address={"country": "ES"},
                                       lines=[orders.LineRequest(line.sku, line.quantity, line.customization) for line in lines])
    placement = replace(orders._check(replace(request, shipping_address=_address())), lines=orders._resolve_lines(request, products))
    assert preview.totals == orders.totals_of(placement)
    assert preview.problems == []


def test_unknown_skus_and_short_stock_are_problems_not_prices() -> None:
    rnd = random.Random(1)
    products = catalogue(rnd)
    products["S0"].made_to_order = False
    draft = DraftOrder(id=uuid.uuid4(), channel=SalesChannel.STORE, email=None, shipping_address=None)
    lines = [DraftOrderLine(sku="S0", quantity=3, position=0), DraftOrderLine(sku="NOPE", quantity=1, position=1),
             DraftOrderLine(sku="S0", quantity=2, position=2)]
    preview = drafts.price(draft, lines, products, {"S0": 4})
    assert [(p.code, p.path) for p in preview.problems] == [
        ("INVALID_INPUT", ("email",)), ("INVALID_INPUT", ("shipping_address",)), ("NOT_FOUND", ("lines", 1, "sku")),
        ("OUT_OF_STOCK", ("lines", 0, "sku")),
    ]
    assert preview.totals is not None and preview.totals.subtotal == 5 * products["S0"].price
    assert [line.available for line in preview.lines] == [4, None, 4]


def _address() -> dict[str, str]:
    return {"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "ES"}
