"""Issue 19 review F5: only placeOrder charges shipping. An imported marketplace order (the marketplace priced and
collected its shipping), a completed draft (what its preview showed is placed) and an exchange's replacement (the
merchant ships it) are charged none, and never refused for want of a rate covering them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import DomainError, ErrorCode
from app.flows import imports, placement
from app.fulfilment import rates
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Order
from models.fulfilment import Carrier
from tests import factories
from tests.factories import ADDRESS, ADDRESS_INPUT
from tests.test_drafts import complete, create
from tests.test_returns import APPROVE, REQUEST, call, delivered_order, staff_request


async def spanish_rate_only(db: Any) -> None:
    """One rate: the default carrier's STANDARD to Spain, 4.90 net. Nothing covers France."""
    async with db.read() as session:
        carrier = (await session.execute(select(Carrier.code).where(Carrier.active).order_by(Carrier.code))).scalars().first()
    assert carrier is not None
    await db.run(lambda uow: rates.set_rates(uow=uow, rows=[rates.RateInput(carrier, "STANDARD", "ES", "EUR", "4.90")]))


@pytest.fixture
async def catalogue(db: Any) -> None:
    await factories.warehouse(db, "MAD", ["MARKETPLACE", "WEB", "PHONE"])
    await factories.product(db, "A")
    await factories.stock(db, "A", "MAD", 20)


async def test_place_order_still_charges_and_refuses_an_uncovered_destination(db, catalogue) -> None:
    await spanish_rate_only(db)
    order = await factories.place(db, [("A", 1)])
    assert order.shipping_total == Decimal("4.90")
    with pytest.raises(DomainError) as refused:
        request = PlaceOrderRequest(channel="WEB", email="b@example.com", lines=[LineRequest("A", 1)],  # type: ignore[arg-type]
                                    shipping_address={**ADDRESS, "country": "FR"})
        await db.run(lambda uow: placement.place_order(uow=uow, request=request), actor="test")
    assert refused.value.code == ErrorCode.INVALID_INPUT and refused.value.path == ("shipping_method",)


async def test_an_imported_marketplace_order_is_charged_no_shipping(db, catalogue) -> None:
    await spanish_rate_only(db)
    for reference, country in (("R1", "ES"), ("R2", "FR")):
        request = PlaceOrderRequest(channel="MARKETPLACE", email="m@example.com", lines=[LineRequest("A", 1)],  # type: ignore[arg-type]
                                    shipping_address={**ADDRESS, "country": country})
        row = imports.ImportRow(request, external_reference=reference, marketplace="amazon", paid_externally=True)
        result = await imports.import_order(db, row=row, actor="test")
        assert result.outcome == imports.ImportOutcome.CREATED, result.errors
        assert result.order is not None
        assert (result.order.shipping_total, result.order.shipping_method) == (Decimal("0.00"), None)
        assert result.order.total == Decimal("12.10")  # 10.00 + 21 % VAT, paid at the marketplace
        # the same row again is the same import (the caller's flag is not part of the fingerprint)
        again = await imports.import_order(db, row=row, actor="test")
        assert again.outcome == imports.ImportOutcome.ALREADY_IMPORTED and again.order is not None and again.order.id == result.order.id


async def test_a_completed_draft_is_charged_what_its_preview_showed(gql, db, catalogue) -> None:
    await spanish_rate_only(db)
    for country in ("ES", "FR"):
        draft = await create(gql, email="buyer@example.com", lines=[{"sku": "A", "quantity": 2}],
                             shippingAddress={**ADDRESS_INPUT, "country": country})
        done = await complete(gql, draft["id"], {"method": "BANK_TRANSFER"})
        assert done["userErrors"] == [], done
        preview = draft["preview"]
        async with db.read() as session:
            order = (await session.execute(select(Order).where(Order.number == done["order"]["number"]))).scalar_one()
        assert order.shipping_total == Decimal("0.00") and order.shipping_method is None
        assert preview["shippingTotal"]["amount"] == "0.00" and preview["total"]["amount"] == f"{order.total:.2f}"


async def test_an_exchange_replacement_is_charged_no_shipping(gql, db, catalogue) -> None:
    order = await delivered_order(db, [("A", 2)])
    await spanish_rate_only(db)
    rma = (await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE")))["return"]
    approved = await call(gql, APPROVE, {"returnId": rma["id"]})
    assert approved["userErrors"] == []
    assert approved["return"]["priceDifference"]["amount"] == "0.00"
    async with db.read() as session:
        replacement = (await session.execute(select(Order).where(Order.number == approved["return"]["replacementOrder"]["number"]))).scalar_one()
    assert replacement.shipping_total == Decimal("0.00")


async def test_a_draft_completed_with_a_shipping_method_is_charged_as_place_order(gql, db, catalogue) -> None:
    await spanish_rate_only(db)
    async with db.read() as session:
        carrier = (await session.execute(select(Carrier.code).where(Carrier.active).order_by(Carrier.code))).scalars().first()
    draft = await create(gql, email="buyer@example.com", lines=[{"sku": "A", "quantity": 1}], shippingAddress=ADDRESS_INPUT)
    # an unknown method: refused at the completion's input, the draft stays open
    body = await gql(COMPLETE_WITH_SHIPPING, {"input": {"draftOrderId": draft["id"], "payment": {"method": "BANK_TRANSFER"},
                                                        "shippingMethod": "NOPE:NEVER"}})
    refused = body["data"]["completeDraftOrder"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_INPUT", ["input", "shippingMethod"])], refused
    # the configured one, in any case: charged as placeOrder charges it
    body = await gql(COMPLETE_WITH_SHIPPING, {"input": {"draftOrderId": draft["id"], "payment": {"method": "BANK_TRANSFER"},
                                                        "shippingMethod": f"{str(carrier).lower()}:standard"}})
    done = body["data"]["completeDraftOrder"]
    assert done["userErrors"] == [], done
    async with db.read() as session:
        order = (await session.execute(select(Order).where(Order.number == done["order"]["number"]))).scalar_one()
    assert (order.shipping_method, order.shipping_total) == (f"{carrier}:STANDARD", Decimal("4.90"))


COMPLETE_WITH_SHIPPING = """
mutation Complete($input: CompleteDraftOrderInput!) {
  completeDraftOrder(input: $input) { order { number } userErrors { field code message } }
}"""
