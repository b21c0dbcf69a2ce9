"""The demo data set: catalogue, three warehouses with stock, and orders in several statuses.

Built through the same domain services that API calls use, so it obeys every rule.
Idempotent: it does nothing when the demo warehouses exist already.
"""

from __future__ import annotations

import functools
import random
import uuid
from decimal import Decimal

from sqlalchemy import select

from app.catalog import service as catalog
from app.errors import DomainError
from app.flows import cancellation, confirmation, placement, production, shipping
from app.fulfilment import tracking
from app.fulfilment.enums import ShipmentStatus
from app.infra.database import Database, UnitOfWork
from app.inquiries import service as inquiries
from app.orders import holds
from app.orders.enums import AuthorType, OrderStatus, PaymentMethod, ProductionStage, SalesChannel
from app.orders.service import LineRequest, PlaceOrderRequest
from app.returns import service as returns
from models import Allocation, Order, OrderLine, Warehouse
from models.fulfilment import Shipment

C = SalesChannel
WAREHOUSES = [
    ("MAD", "Madrid central warehouse", [C.WEB, C.MOBILE, C.PHONE, C.STORE]),
    ("BCN", "Barcelona marketplace hub", [C.WEB, C.MOBILE, C.MARKETPLACE]),
    ("VLC", "Valencia store backroom", [C.STORE, C.PHONE]),
]
PRODUCTS = [
    # sku, name, price, VAT rate, made to order, lead days
    ("TSHIRT-BLK-M", "T-shirt black M", "19.99", "0.21", False, 0),
    ("TSHIRT-WHT-L", "T-shirt white L", "19.99", "0.21", False, 0),
    ("HOODIE-GRY-M", "Hoodie grey M", "49.00", "0.21", False, 0),
    ("SNEAKER-42", "Running sneaker 42", "89.90", "0.21", False, 0),
    ("MUG-LOGO", "Logo mug", "9.50", "0.21", False, 0),
    ("BOOK-OMS", "Order management handbook", "29.00", "0.04", False, 0),
    ("COFFEE-1KG", "Coffee beans 1 kg", "18.40", "0.10", False, 0),
    ("BACKPACK-20L", "Backpack 20 L", "59.00", "0.21", False, 0),
    ("CAP-RED", "Red cap", "15.00", "0.21", False, 0),
    ("SOCKS-3P", "Socks 3-pack", "12.00", "0.21", False, 0),
    ("SOFA-CUSTOM", "Made-to-order sofa", "1299.00", "0.21", True, 21),
    ("PRINT-A3", "Custom A3 print", "35.00", "0.21", True, 3),
]
STOCK = {"MAD": 120, "BCN": 60, "VLC": 15}
CHANNELS = list(SalesChannel)
ADDRESS = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES", "phone": "+34 600 000 000"}
ACTOR = "demo-seed"


async def seed_demo(db: Database, *, orders_count: int = 24) -> bool:
    async with db.read() as session:
        if (await session.execute(select(Warehouse.id).where(Warehouse.code == "MAD"))).first() is not None:
            return False

    async def catalogue(uow):  # type: ignore[no-untyped-def]
        for code, name, channels in WAREHOUSES:
            await catalog.upsert_warehouse(uow=uow, code=code, name=name, channels=channels)
        for sku, name, price, rate, mto, lead in PRODUCTS:
            await catalog.upsert_product(uow=uow, sku=sku, name=name, price=Decimal(price), currency="EUR",
                                         tax_rate=Decimal(rate), made_to_order=mto, lead_time_days=lead)
        for sku, _, _, _, mto, _ in PRODUCTS:
            if not mto:
                for code, units in STOCK.items():
                    await catalog.adjust_stock(uow=uow, sku=sku, warehouse_code=code, delta=units, reason="opening stock")

    await db.run(catalogue, actor=ACTOR)

    rng = random.Random(42)
    # Spread the orders over statuses: the action sequence applied after placing.
    plans = [
        [], ["confirm"], ["confirm", "ship"], ["hold"], ["confirm", "hold"], ["cancel"], ["confirm", "cancel"],
        ["confirm", "ship", "deliver"], ["confirm", "ship", "deliver", "return"], ["ask"],
    ]
    for i in range(orders_count):
        channel = CHANNELS[i % len(CHANNELS)]
        skus = rng.sample([p[0] for p in PRODUCTS if not p[4]], k=rng.randint(1, 3))
        lines = [LineRequest(sku, rng.randint(1, 3)) for sku in skus]
        if i % 8 == 0:
            lines.append(LineRequest("PRINT-A3", 1, {"image": "summer-poster.png", "finish": "matte"}))
        request = PlaceOrderRequest(
            channel=channel, email=f"customer{i % 9}@example.com", lines=lines, shipping_address=ADDRESS,
            payment_method=[PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER, PaymentMethod.CASH_ON_DELIVERY][i % 3],
            payment_token="test_approve" if i % 3 == 0 else None,  # the built-in offline test provider approves it
        )
        try:
            order = await db.run(lambda uow: placement.place_order(uow=uow, request=request), actor=ACTOR)
        except DomainError:
            continue  # e.g. a store channel with too little stock for this random basket
        status = order.status
        for step in plans[i % len(plans)]:
            if step == "confirm" and status != OrderStatus.PENDING:
                continue  # cash on delivery is confirmed (and invoiced) at placement already
            try:
                if step in POST_CONFIRMATION:
                    await POST_CONFIRMATION[step](db, order)
                    continue
                action = {"confirm": confirmation.confirm_order, "hold": holds.hold_order, "cancel": cancellation.cancel_order}[step]
                status = (await db.run(lambda uow: action(uow=uow, order_id=order.id, reason="demo"), actor=ACTOR)).status
            except DomainError:
                break  # e.g. a made-to-order line with nothing to ship yet: the order stays where it got to
    return True


async def _ship(db: Database, order: Order) -> None:
    """One shipment from every warehouse holding a reservation for the order, its made-to-order lines taken
    through production to READY first (issue 19: only READY lines ship)."""
    async with db.read() as session:
        codes = (await session.execute(
            select(Warehouse.code).join(Allocation, Allocation.warehouse_id == Warehouse.id).where(Allocation.order_id == order.id).distinct()
        )).scalars().all()
        made = (await session.execute(select(OrderLine.id).where(OrderLine.order_id == order.id, OrderLine.made_to_order))).scalars().all()

    async def advance(uow: UnitOfWork, line_id: uuid.UUID, stage: ProductionStage) -> None:
        await production.advance_production(uow=uow, order_line_id=line_id, stage=stage)

    for line_id in made:
        for stage in (ProductionStage.IN_PRODUCTION, ProductionStage.QUALITY_CHECK, ProductionStage.READY):
            await db.run(functools.partial(advance, line_id=line_id, stage=stage), actor=ACTOR)
    for code in sorted(codes):
        await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code=code, carrier_code="CORREOS",
                                                             tracking_number=f"PQ{order.number[-6:]}{code}"), actor=ACTOR)


async def _deliver(db: Database, order: Order) -> None:
    async with db.read() as session:
        shipment_ids = (await session.execute(select(Shipment.id).where(Shipment.order_id == order.id))).scalars().all()
    for shipment_id in shipment_ids:
        await db.run(lambda uow: tracking.record_tracking_event(uow=uow, shipment_id=shipment_id, status=ShipmentStatus.DELIVERED), actor="carrier")


async def _return(db: Database, order: Order) -> None:
    async with db.read() as session:
        line = (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position).limit(1))).scalar_one()
    request = returns.ReturnRequestInput(order_id=order.id, lines=[returns.ReturnLineRequest(quantity=1, order_line_id=line.id)],
                                         reason="wrong size")
    await db.run(lambda uow: returns.request_return(uow=uow, request=request, requested_by=AuthorType.CUSTOMER), actor=f"customer:{order.email}")


async def _ask(db: Database, order: Order) -> None:
    await db.run(lambda uow: inquiries.open_inquiry(uow=uow, order_id=order.id, subject="Can I change the delivery address?",
                                                    body="I will be away next week.", author_type=AuthorType.CUSTOMER,
                                                    author=order.email), actor=f"customer:{order.email}")


POST_CONFIRMATION = {"ship": _ship, "deliver": _deliver, "return": _return, "ask": _ask}
