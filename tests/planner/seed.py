"""The differential suite's one data set, built once per run through the API's own paths.

`app.demo.seed_demo` (what `oms seed --demo` loads: three warehouses, twelve products, stock, orders in
several statuses over every channel and payment method, made-to-order lines with customization, returns and
inquiries) and then, through GraphQL mutations as an admin key (the same domain services behind them),
what the demo lacks: an order in every status (PROCESSING, PARTIALLY_SHIPPED, PARTIALLY_RETURNED, RETURNED
too), several shipments per order with tracking events reported out of order and at times with and without
microseconds, credit notes (a refund, a received return), an exchange with its replacement order, a rejected
return, recorded and refunded bank transfers, answered and closed inquiries, a billing address, a JSON null
customization, a made-to-order table with nested customization. One direct UPDATE (at the end, commented) makes
one order a row without an estimated delivery date, which no service path produces any more.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from app.demo import seed_demo
from app.infra.database import Database

ADDRESS = {"name": "Jordi Puig", "line1": "Carrer de Mallorca 401", "line2": "3r 2a", "city": "Barcelona", "postalCode": "08013",
           "region": "Catalunya", "country": "ES", "phone": "+34 611 222 333"}
BILLING = {"name": "Puig Disseny S.L.", "line1": "Passeig de Gràcia 1", "city": "Barcelona", "postalCode": "08007", "country": "ES"}

PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id number email } userErrors { code message field } } }"""
ORDER_ACTION = """mutation($input: OrderIdInput!) { %s(input: $input) { order { id status } userErrors { code message field } } }"""
PRODUCT = """mutation($input: ProductInput!) { upsertProduct(input: $input) { product { id } userErrors { code message } } }"""
STOCK = """mutation($input: AdjustStockInput!) { adjustStock(input: $input) { stockLevel { id } userErrors { code message } } }"""
PICK = """mutation($input: CreatePickListInput!) { createPickList(input: $input) { pickList { id } userErrors { code message } } }"""
SHIP = """mutation($input: CreateShipmentInput!) { createShipment(input: $input) { shipment { id } userErrors { code message } } }"""
# issue 19: made-to-order lines ship once READY
LINE_STAGES = """query($id: ID!) { order(id: $id) { lines { id productionStage } } }"""
ADVANCE = """mutation($input: AdvanceProductionInput!) { advanceProduction(input: $input) { userErrors { code message } } }"""
TRACK = """mutation($input: TrackingEventInput!) { recordTrackingEvent(input: $input) { shipment { id status } userErrors { code message } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { payment { id } userErrors { code message } } }"""
REFUND = """mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { payment { id } userErrors { code message } } }"""
REQUEST_RETURN = """mutation($input: RequestReturnInput!) { requestReturn(input: $input) { return { id lines { id } } userErrors { code message } } }"""
APPROVE = """mutation($input: ReturnDecisionInput!) { approveReturn(input: $input) { return { id } userErrors { code message } } }"""
REJECT = """mutation($input: ReturnDecisionInput!) { rejectReturn(input: $input) { return { id } userErrors { code message } } }"""
RECEIVE = """mutation($input: ReceiveReturnInput!) { receiveReturn(input: $input) { return { id status } userErrors { code message } } }"""
OPEN_INQUIRY = """mutation($input: OpenInquiryInput!) { openInquiry(input: $input) { inquiry { id } userErrors { code message } } }"""
REPLY = """mutation($input: InquiryMessageInput!) { replyToInquiry(input: $input) { inquiry { id } userErrors { code message } } }"""
CLOSE = """mutation($input: InquiryIdInput!) { closeInquiry(input: $input) { inquiry { id } userErrors { code message } } }"""
CUSTOMER_INQUIRY = """mutation($input: OpenCustomerInquiryInput!) { openCustomerInquiry(input: $input) { inquiry { id } userErrors { code message } } }"""
ORDER_DETAIL = """query($id: ID!) { order(id: $id) { status lines { id sku quantity } payments { id method status amount { amount } } } }"""


class Api:
    """Mutations as an admin key; every call must succeed (no errors, no userErrors)."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.token = client, token

    async def __call__(self, document: str, variables: dict[str, Any], *, token: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if token is True else {}
        response = await self.client.post("/graphql", json={"query": document, "variables": variables}, headers=headers)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), (document, variables, body)
        payload = next(iter(body["data"].values()))
        assert not (payload or {}).get("userErrors"), (document, variables, payload)
        return payload

    async def place(self, lines: list[dict[str, Any]], *, channel: str = "WEB", email: str = "puig@example.com", method: str = "CARD",
                    billing: bool = False) -> dict[str, Any]:
        payment: dict[str, Any] = {"method": method, **({"token": "test_approve"} if method == "CARD" else {})}
        order_input: dict[str, Any] = {"channel": channel, "email": email, "lines": lines, "shippingAddress": ADDRESS, "payment": payment}
        if billing:
            order_input["billingAddress"] = BILLING
        return (await self(PLACE, {"input": order_input}))["order"]

    async def act(self, action: str, order_id: str, reason: str | None = None) -> dict[str, Any]:
        return (await self(ORDER_ACTION % action, {"input": {"orderId": order_id, **({"reason": reason} if reason else {})}}))["order"]

    async def detail(self, order_id: str) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": ORDER_DETAIL, "variables": {"id": order_id}},
                                          headers={"Authorization": f"Bearer {self.token}"})
        return response.json()["data"]["order"]

    async def make_ready(self, order_id: str) -> None:
        """issue 19: only READY made-to-order lines ship; take every one still in production to READY."""
        response = await self.client.post("/graphql", json={"query": LINE_STAGES, "variables": {"id": order_id}},
                                          headers={"Authorization": f"Bearer {self.token}"})
        order = response.json()["data"]["order"]
        stages = ["QUEUED", "IN_PRODUCTION", "QUALITY_CHECK", "READY"]
        for line in order["lines"]:
            if line["productionStage"] is not None:
                for stage in stages[stages.index(line["productionStage"]) + 1:]:
                    await self(ADVANCE, {"input": {"orderLineId": line["id"], "stage": stage}})

    async def ship(self, order_id: str, warehouse: str, tracking: str, lines: list[dict[str, Any]] | None = None, carrier: str = "CORREOS") -> str:
        await self.make_ready(order_id)
        shipment_input: dict[str, Any] = {"orderId": order_id, "warehouseCode": warehouse, "carrier": carrier, "trackingNumber": tracking}
        if lines is not None:
            shipment_input["lines"] = lines
        return str((await self(SHIP, {"input": shipment_input}))["shipment"]["id"])

    async def ship_all(self, order_id: str, tracking: str) -> list[str]:
        """One shipment from each warehouse that has something of the order left to ship."""
        shipped = []
        await self.make_ready(order_id)
        for code in ("MAD", "BCN", "VLC"):
            shipment_input = {"orderId": order_id, "warehouseCode": code, "carrier": "CORREOS", "trackingNumber": f"{tracking}-{code}"}
            response = await self.client.post("/graphql", json={"query": SHIP, "variables": {"input": shipment_input}},
                                              headers={"Authorization": f"Bearer {self.token}"})
            shipment = response.json()["data"]["createShipment"]["shipment"]
            if shipment is not None:
                shipped.append(str(shipment["id"]))
        assert shipped, f"nothing to ship for {order_id}"
        return shipped

    async def track(self, shipment_id: str, status: str, occurred_at: str | None = None, location: str | None = None,
                    description: str | None = None) -> None:
        event: dict[str, Any] = {"shipmentId": shipment_id, "status": status}
        for key, value in (("occurredAt", occurred_at), ("location", location), ("description", description)):
            if value is not None:
                event[key] = value
        await self(TRACK, {"input": event})


async def seed(db: Database, client: httpx.AsyncClient, admin: str) -> None:
    await seed_demo(db, orders_count=30)
    api = Api(client, admin)

    # Two products stocked in one warehouse each, so one order is reserved in two and ships twice.
    for sku, name, price, rate, code in (("LAMP-BCN", "Desk lamp", "42.50", "0.21", "BCN"), ("RUG-MAD", "Wool rug", "120.00", "0.10", "MAD"),
                                         ("TEA-VLC", "Green tea 250 g", "7.05", "0.04", "VLC")):
        await api(PRODUCT, {"input": {"sku": sku, "name": name, "price": price, "currency": "EUR", "taxRate": rate}})
        await api(STOCK, {"input": {"sku": sku, "warehouseCode": code, "delta": 25, "reason": "opening stock"}})
    await api(PRODUCT, {"input": {"sku": "TABLE-OAK", "name": "Oak table (made to order)", "price": "845.00", "currency": "EUR", "taxRate": "0.21",
                                  "madeToOrder": True, "leadTimeDays": 14}})

    # PROCESSING: confirmed, on a pick list.
    processing = await api.place([{"sku": "RUG-MAD", "quantity": 1}, {"sku": "MUG-LOGO", "quantity": 2}], channel="PHONE", billing=True)
    await api.act("confirmOrder", processing["id"])
    await api(PICK, {"input": {"warehouseCode": "MAD", "orderIds": [processing["id"]]}})

    # PARTIALLY_SHIPPED: two warehouses, one shipped, with events at whole and fractional seconds.
    partial = await api.place([{"sku": "LAMP-BCN", "quantity": 2}, {"sku": "RUG-MAD", "quantity": 1}], channel="MOBILE", email="partial@example.com")
    await api.act("confirmOrder", partial["id"])
    first = await api.ship(partial["id"], "BCN", "PQ-PARTIAL-BCN")
    await api.track(first, "IN_TRANSIT", "2026-11-28T09:15:00+00:00", "Barcelona hub", "Left the sorting centre")
    await api.track(first, "OUT_FOR_DELIVERY", "2026-11-28T18:30:00.250000+00:00", "Madrid")

    # SHIPPED twice (two warehouses) and DELIVERED once, events reported out of order, an exception, a JSON null customization.
    two = await api.place([{"sku": "LAMP-BCN", "quantity": 1}, {"sku": "RUG-MAD", "quantity": 2},
                           {"sku": "PRINT-A3", "quantity": 1, "customization": None}], channel="WEB", email="two@example.com", billing=True)
    await api.act("confirmOrder", two["id"])
    bcn = await api.ship(two["id"], "BCN", "PQ-TWO-BCN", lines=[{"sku": "LAMP-BCN", "quantity": 1}])
    mad = await api.ship(two["id"], "MAD", "PQ-TWO-MAD", lines=[{"sku": "RUG-MAD", "quantity": 2}, {"sku": "PRINT-A3", "quantity": 1}], carrier="SEUR")
    await api.track(bcn, "OUT_FOR_DELIVERY", "2026-11-29T08:00:00.000001+00:00", "Madrid")
    await api.track(bcn, "IN_TRANSIT", "2026-11-28T21:00:00+00:00", "Zaragoza", "In transit")
    await api.track(mad, "EXCEPTION", "2026-11-29T12:00:00+00:00", None, "Address not found")
    await api.track(mad, "IN_TRANSIT", "2026-11-29T15:45:30.5+00:00")

    # DELIVERED, then returns: one received (credit note, PARTIALLY_RETURNED), one rejected; another fully returned.
    delivered = await api.place([{"sku": "TSHIRT-BLK-M", "quantity": 3}, {"sku": "BOOK-OMS", "quantity": 1}], email="returns@example.com", billing=True)
    await api.act("confirmOrder", delivered["id"])
    for shipment in await api.ship_all(delivered["id"], "PQ-RET"):
        await api.track(shipment, "IN_TRANSIT", "2026-11-20T10:00:00+00:00", "Madrid")
        await api.track(shipment, "DELIVERED", None, "Madrid", "Handed to the customer")
    lines = (await api.detail(delivered["id"]))["lines"]
    received = (await api(REQUEST_RETURN, {"input": {"orderId": delivered["id"], "reason": "too small",
                                                     "lines": [{"orderLineId": lines[0]["id"], "quantity": 1, "reason": "size"}]}}))["return"]
    await api(APPROVE, {"input": {"returnId": received["id"], "note": "ok"}})
    await api(RECEIVE, {"input": {"returnId": received["id"], "lines": [{"returnLineId": received["lines"][0]["id"], "result": "RESTOCK",
                                                                          "warehouseCode": "MAD", "note": "as new"}]}})
    rejected = (await api(REQUEST_RETURN, {"input": {"orderId": delivered["id"], "reason": "changed my mind",
                                                     "lines": [{"orderLineId": lines[1]["id"], "quantity": 1}]}}))["return"]
    await api(REJECT, {"input": {"returnId": rejected["id"], "note": "outside the policy"}})

    full = await api.place([{"sku": "CAP-RED", "quantity": 1}], channel="STORE", email="full@example.com", method="CASH_ON_DELIVERY")
    if (await api.detail(full["id"]))["status"] == "PENDING":
        await api.act("confirmOrder", full["id"])
    for shipment in await api.ship_all(full["id"], "PQ-FULL"):
        await api.track(shipment, "DELIVERED")
    full_lines = (await api.detail(full["id"]))["lines"]
    whole = (await api(REQUEST_RETURN, {"input": {"orderId": full["id"], "reason": "damaged",
                                                  "lines": [{"orderLineId": full_lines[0]["id"], "quantity": 1}]}}))["return"]
    await api(APPROVE, {"input": {"returnId": whole["id"]}})
    await api(RECEIVE, {"input": {"returnId": whole["id"], "lines": [{"returnLineId": whole["lines"][0]["id"], "result": "WRITE_OFF"}]}})

    # An exchange: the approval places the replacement order.
    exchange = await api.place([{"sku": "TSHIRT-WHT-L", "quantity": 1}], email="exchange@example.com")
    await api.act("confirmOrder", exchange["id"])
    for shipment in await api.ship_all(exchange["id"], "PQ-EXCH"):
        await api.track(shipment, "DELIVERED")
    exchange_lines = (await api.detail(exchange["id"]))["lines"]
    swap = (await api(REQUEST_RETURN, {"input": {"orderId": exchange["id"], "reason": "wrong colour", "resolution": "EXCHANGE",
                                                 "lines": [{"orderLineId": exchange_lines[0]["id"], "quantity": 1}],
                                                 "replacementLines": [{"sku": "TSHIRT-BLK-M", "quantity": 1}]}}))["return"]
    await api(APPROVE, {"input": {"returnId": swap["id"], "note": "black one on its way"}})

    # Bank transfers: one paid in two parts and partly refunded (a credit note), one left unpaid, one held.
    transfer = await api.place([{"sku": "HOODIE-GRY-M", "quantity": 2}], email="transfer@example.com", method="BANK_TRANSFER", billing=True)
    payments = (await api.detail(transfer["id"]))["payments"]
    await api(RECORD_PAYMENT, {"input": {"orderId": transfer["id"], "method": "BANK_TRANSFER", "amount": "50.00", "reference": "TRF-001"}})
    total = await _total(api, transfer["id"])
    await api(RECORD_PAYMENT, {"input": {"orderId": transfer["id"], "method": "BANK_TRANSFER", "amount": str(total - 50), "reference": "TRF-002"}})
    if (await api.detail(transfer["id"]))["status"] == "PENDING":
        await api.act("confirmOrder", transfer["id"])
    payments = (await api.detail(transfer["id"]))["payments"]
    captured = [p for p in payments if p["status"] == "CAPTURED"]
    if captured:
        await api(REFUND, {"input": {"paymentId": captured[0]["id"], "amount": "10.00", "reason": "late delivery goodwill"}})
    await api.place([{"sku": "SOCKS-3P", "quantity": 4}], email="unpaid@example.com", method="BANK_TRANSFER")
    held = await api.place([{"sku": "COFFEE-1KG", "quantity": 1}, {"sku": "TEA-VLC", "quantity": 3}], channel="STORE", email="held@example.com")
    await api.act("holdOrder", held["id"], "fraud check")

    # Made to order: nested customization, a lead time far out; a card order confirmed, then cancelled.
    await api.place([{"sku": "TABLE-OAK", "quantity": 1, "customization": {"wood": "oak", "size": {"w": 180, "d": 90.5}, "legs": ["A", "B"],
                                                                              "engraving": None, "rush": False}},
                     {"sku": "SOFA-CUSTOM", "quantity": 2, "customization": {"fabric": "línea verde ✓"}}], channel="WEB", email="maker@example.com")
    cancelled = await api.place([{"sku": "SNEAKER-42", "quantity": 1}], channel="MOBILE", email="cancel@example.com")
    await api.act("confirmOrder", cancelled["id"])
    await api.act("cancelOrder", cancelled["id"], "customer asked")

    # Inquiries: answered, closed, and one opened by the customer.
    case = (await api(OPEN_INQUIRY, {"input": {"orderId": partial["id"], "subject": "Where is the rug?", "body": "Only the lamp arrived."}}))["inquiry"]
    await api(REPLY, {"input": {"inquiryId": case["id"], "body": "It leaves Madrid tomorrow."}})
    closed = (await api(OPEN_INQUIRY, {"input": {"orderId": two["id"], "subject": "Invoice address", "body": "Please use the company."}}))["inquiry"]
    await api(CLOSE, {"input": {"inquiryId": closed["id"]}})
    await api(CUSTOMER_INQUIRY, {"input": {"number": delivered["number"], "email": delivered["email"], "subject": "Refund?",
                                           "body": "When do I get my money back?"}}, token=False)

    # Order.estimatedDeliveryDate is nullable, but every service path sets it (placement always promises a date): only rows
    # from before the promise existed have none. The one direct write of the data set makes one order such a row.
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET estimated_delivery_date = NULL WHERE email = 'unpaid@example.com'"))


async def _total(api: Api, order_id: str) -> Decimal:
    response = await api.client.post("/graphql", json={"query": "query($id: ID!) { order(id: $id) { total { amount } } }", "variables": {"id": order_id}},
                                     headers={"Authorization": f"Bearer {api.token}"})
    return Decimal(response.json()["data"]["order"]["total"]["amount"])
