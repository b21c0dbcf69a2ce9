"""Descriptions of the domain enums the API exposes (issue 17: the schema documents itself).

The domain (app/) defines these vocabularies and may not import strawberry, so their GraphQL descriptions
live here, by enum name: the type's description and one line per value. graphql_schema/enums.py applies
them when it registers the enums; tests/test_schema_descriptions.py fails on any value left without one.
A new value in a domain enum needs its line here (at the end of its enum's table).
"""

from __future__ import annotations

from enum import Enum

import strawberry

DOMAIN_ENUMS: dict[str, tuple[str, dict[str, str]]] = {
    "SalesChannel": (
        "Where an order was placed. Each warehouse lists the channels it serves; an order reserves stock only in warehouses serving its "
        "channel.",
        {
            "WEB": "The web shop.",
            "MOBILE": "The mobile app.",
            "PHONE": "Taken over the phone by staff.",
            "MARKETPLACE": "A third-party marketplace, sent by a partner integration.",
            "STORE": "A physical store.",
        },
    ),
    "OrderStatus": (
        "Where an order stands. Every move between statuses is checked against one table (README, Order lifecycle); a move the table "
        "does not allow is refused with INVALID_TRANSITION and writes nothing.",
        {
            "PENDING": "Placed, stock reserved; waiting for payment (bank transfer) or staff confirmation. Next: CONFIRMED, ON_HOLD or "
                       "CANCELLED.",
            "CONFIRMED": "Payment secured (or not needed up front, as for cash on delivery); captured and invoiced now when billing is "
                         "configured to do so at confirmation. Next: PROCESSING, PARTIALLY_SHIPPED, SHIPPED, ON_HOLD, CANCELLED or "
                         "(click-and-collect) READY_FOR_PICKUP.",
            "ON_HOLD": "Stopped (holdOrder, or a rule): releaseOrder releases a hold, and once none is left the order returns to the "
                       "status it was held from. Next: that status, or CANCELLED.",
            "PROCESSING": "A pick list includes it: being picked and packed. Next: PARTIALLY_SHIPPED, SHIPPED, ON_HOLD, CANCELLED or "
                          "(click-and-collect) READY_FOR_PICKUP.",
            "PARTIALLY_SHIPPED": "Some units have left in a shipment, others are still to ship. Next: PARTIALLY_SHIPPED, SHIPPED or "
                                 "ON_HOLD (no longer cancellable).",
            "SHIPPED": "Every unit has left in a shipment. Next: DELIVERED.",
            "DELIVERED": "Every shipment of the order was reported delivered by its carrier (a click-and-collect order: collected at "
                         "its pickup point with collectOrder). Returns may be requested from now, within the return window.",
            "PARTIALLY_RETURNED": "Some delivered units came back through a received return. Next: PARTIALLY_RETURNED or RETURNED.",
            "RETURNED": "Every delivered unit came back. Final.",
            "CANCELLED": "Cancelled: reservations released, payments voided or refunded, an issued invoice credited. Final.",
            # pickup, issue 19
            "READY_FOR_PICKUP": "A click-and-collect order waiting at its pickup point (markReadyForPickup): every unit is reserved there "
                                "and the customer's pickup code is shown in their tracking view. Next: DELIVERED (collectOrder with the "
                                "code), ON_HOLD or CANCELLED.",
        },
    ),
    "PaymentStatus": (
        "The order's payment status, derived from all its payments (refunds first, then captures, then authorisations).",
        {
            "UNPAID": "Not paid in full and no card authorisation open (e.g. a bank transfer or cash on delivery not yet received in "
                      "full).",
            "AUTHORIZED": "A card payment is authorised and not yet captured in full.",
            "PAID": "Captured or received payments cover the order total.",
            "PARTIALLY_REFUNDED": "Some of what was captured has been refunded.",
            "REFUNDED": "Everything captured has been refunded.",
            "FAILED": "The latest payment was declined or failed and nothing was captured (no stored payment reaches those states "
                      "today: a declined card refuses the placement).",
        },
    ),
    "PaymentMethod": (
        "How the customer pays: chosen at placement (PaymentInput.method), and the method of each payment.",
        {
            "CARD": "A card, authorised through the payment provider with the token in PaymentInput.token; captured by capturePayment "
                    "or by billing at confirmation or shipment.",
            "BANK_TRANSFER": "A transfer quoting the order number; the order stays PENDING until recordPayment covers its total, and is "
                             "cancelled when the payment's expiresAt passes unpaid.",
            "CASH_ON_DELIVERY": "Paid to the carrier on delivery: the order is confirmed at placement; the cash is recorded with "
                                "recordPayment.",
            "OTHER": "Any other money received outside the provider, recorded with recordPayment (exchanges pay with the returned "
                     "goods' value this way).",
            # holds, issue 18 (inert until PaymentMethod has the value)
            "PAY_BY_LINK": "The customer pays through a payment link: the order stays PENDING (like BANK_TRANSFER) until recordPayment "
                           "covers its total, and is cancelled (reason UNPAID) after its deadline in OMS_UNPAID_EXPIRY_HOURS.",
        },
    ),
    "PaymentTransactionStatus": (
        "Where one payment stands.",
        {
            "PENDING": "Expected, not (fully) received: a bank transfer or cash on delivery.",
            "AUTHORIZED": "A card authorisation holds the amount; capturePayment takes it (in one or several captures).",
            "CAPTURED": "The money is taken (a card captured in full, or a transfer or cash received in full).",
            "PARTIALLY_REFUNDED": "Part of what was captured has been refunded.",
            "REFUNDED": "Everything captured has been refunded.",
            "VOIDED": "Released without taking money: the order was cancelled (or its unpaid transfer expired) before payment.",
            "DECLINED": "The provider declined it. (A declined card at placement refuses the whole placement with PAYMENT_DECLINED, "
                        "so no stored payment is in this state today.)",
            "FAILED": "The provider failed to process it. (A provider failure at placement refuses it with UNAVAILABLE, so no stored "
                      "payment is in this state today.)",
        },
    ),
    "ShipmentStatus": (
        "Where a parcel stands: READY when it leaves the warehouse; the others are what its carrier reports (recordTrackingEvent). "
        "Derived from all reports sorted by their time, whatever order they arrived in; DELIVERED and RETURNED_TO_SENDER are final.",
        {
            "READY": "Handed to the carrier by the warehouse (createShipment); no carrier report yet.",
            "IN_TRANSIT": "On its way; a report later than the estimate moves the estimate to the next business day.",
            "OUT_FOR_DELIVERY": "Out for delivery today: the estimate becomes that day.",
            "DELIVERED": "Delivered (final). When every parcel of a fully shipped order is delivered, the order becomes DELIVERED.",
            "EXCEPTION": "A problem the carrier reported (address, customs, damage): the estimate moves to at least the next business day.",
            "RETURNED_TO_SENDER": "Coming back to the sender (final): the parcel has no delivery estimate any more.",
        },
    ),
    "InvoiceKind": (
        "An invoice or a credit note correcting one.",
        {
            "INVOICE": "An invoice of the order, numbered gaplessly in its series per year.",
            "CREDIT_NOTE": "A correction of an invoice (refund, return, cancellation): negative amounts, its own series, `corrects` "
                           "names the invoice. All credit notes of an invoice never credit more than it billed.",
        },
    ),
    "ErrorCode": (
        "Why a request was refused. In a mutation's userErrors (with `field`, the input path at fault) nothing was written; the "
        "same codes appear in top-level errors' extensions.code for malformed page sizes and cursors.",
        {
            "INVALID_INPUT": "A value breaks a rule of its field (format, length, range, a required value missing); `field` names it.",
            "NOT_FOUND": "An ID, number, SKU, warehouse or carrier names nothing the caller may act on (a malformed or foreign ID too).",
            "OUT_OF_STOCK": "The warehouses serving the order's channel cannot fill a line together; `field` names the line's sku. "
                            "Nothing was reserved.",
            "INVALID_TRANSITION": "The object is not in a state that allows this action (e.g. shipping a PENDING order, approving a "
                                  "rejected return).",
            "IDEMPOTENCY_CONFLICT": "This idempotencyKey was used before with a different input; the first request's result stands.",
            "PAYMENT_DECLINED": "The payment provider refused the payment; nothing was charged or written.",
            "LIMIT_EXCEEDED": "A value is over a documented limit (lines per order, quantity, amount still capturable or refundable, "
                              "return window, page size).",
            "UNAVAILABLE": "A dependency (the database, the payment provider) did not answer. As a userError nothing was charged "
                           "or written; as a top-level error, extensions.outcome says NOT_WRITTEN or UNKNOWN. Retry later with the "
                           "same idempotencyKey.",
        },
    ),
    "ReturnStatus": (
        "Where a return stands: REQUESTED -> APPROVED -> RECEIVED, or REQUESTED -> REJECTED.",
        {
            "REQUESTED": "Asked for by the customer or staff; waiting for approveReturn or rejectReturn.",
            "APPROVED": "Accepted: the goods may be sent back (an exchange's replacement order is placed at this step).",
            "REJECTED": "Refused with a note (final); its units can be asked for again in another return.",
            "RECEIVED": "The goods arrived and were inspected: restocked or written off, credited and refunded (final).",
        },
    ),
    "ReturnResolution": (
        "What the customer gets for returned goods.",
        {
            "REFUND": "Money back, through the payment that paid, when the goods are received.",
            "EXCHANGE": "A replacement order, placed on approval and paid by the returned goods' value; Return.priceDifference is due "
                        "or refunded.",
        },
    ),
    "InspectionResult": (
        "What receiving a return did with one line's units.",
        {
            "RESTOCK": "Back on hand in the warehouse named by InspectionInput.warehouseCode (a RETURN stock movement).",
            "WRITE_OFF": "Not resellable: no stock comes back.",
        },
    ),
    "InquiryStatus": (
        "Whose turn it is in a support case.",
        {
            "OPEN": "Waiting for staff: opened or last written by the customer.",
            "ANSWERED": "Waiting for the customer: last written by staff.",
            "CLOSED": "Closed by staff (closeInquiry); a new message reopens it.",
        },
    ),
    # holds, issue 18 (their text; graphql_schema/risk.py applies it too)
    "RiskLevel": (
        "How risky an order looks: the highest level among the risk rules it matched at placement (LOW when none did), or an external "
        "provider's verdict (assessOrderRisk). HIGH puts the order ON_HOLD with a RISK_REVIEW hold before anything is captured.",
        {
            "LOW": "No rule matched (or the provider saw no risk).",
            "MEDIUM": "A MEDIUM rule matched (e.g. billing and shipping countries differ, a first order above a value); not held.",
            "HIGH": "A HIGH rule matched (e.g. the total is over OMS_RISK_HIGH_AMOUNT, many orders from one email within the hour): held "
                    "for RISK_REVIEW.",
        },
    ),
    "RiskSource": (
        "Who assessed an order's risk.",
        {
            "RULES": "The installation's risk rules (kept as data, table risk_rules), at placement.",
            "PROVIDER": "An external fraud provider, through assessOrderRisk; replaces the rules' assessment.",
        },
    ),
    # edits, issue 18 (their text)
    "LineCancellationReason": (
        "Why units of an order's lines were cancelled (cancelOrderLines).",
        {
            "CUSTOMER_REQUEST": "The customer asked for it.",
            "OUT_OF_STOCK": "The units cannot be supplied (damaged, lost, not restocked).",
            "FRAUD": "The order or the units are suspected fraud.",
            "OTHER": "Any other reason; say which in the note.",
        },
    ),
    "AuthorType": (
        "Who acted in an order's post-sale care.",
        {
            "CUSTOMER": "The customer, proven by the order number and email pair of the tracking page.",
            "STAFF": "Staff or a partner system with an API key.",
        },
    ),
    "ProductionStage": ("Where a made-to-order line stands in production (advanceProduction); stock lines have none. Its units ship only once READY.", {
        "QUEUED": "Not started; a made-to-order line is QUEUED from placement. Remaining production: the whole lead time.",
        "IN_PRODUCTION": "Being made. Remaining: the lead time less the whole days since it first entered production, at least 1 day.",
        "QUALITY_CHECK": "Made, being checked. Remaining: 1 day. Next: READY, or back to IN_PRODUCTION for rework.",
        "READY": "Finished: its units can be picked and shipped. Final.",
    }),
    # pickup, issue 19
    "DeliveryType": ("How the customer receives an order (PlaceOrderInput.deliveryMethod; absent: SHIP).", {
        "SHIP": "Shipped by carrier to the shipping address from the warehouses holding its stock.",
        "PICKUP": "Click-and-collect: units are reserved at one pickup-point warehouse (DeliveryMethodInput.warehouseCode), or "
                  "elsewhere and transferred to it, made ready there (markReadyForPickup) and collected with the customer's pickup code "
                  "(collectOrder); no shipping charge.",
    }),
    "Weekday": ("A day of the week, in a pickup point's local time.", {
        "MON": "Monday.", "TUE": "Tuesday.", "WED": "Wednesday.", "THU": "Thursday.", "FRI": "Friday.", "SAT": "Saturday.", "SUN": "Sunday.",
    }),
    # sourcing, issue 19
    "SourcingStrategy": ("How a sourcing rule chooses the warehouses an order's units are reserved in (excluded warehouses dropped "
                         "first; every strategy is OUT_OF_STOCK when the usable warehouses cannot fill the order together).", {
        "PRIORITY": "One warehouse that fills everything, the lowest priority first; else a split favouring the warehouses that fill "
                    "most lines. What placement does when no rule applies.",
        "RANKING": "The same with the rule's ranking (warehouse codes, best first) in place of the priority; unlisted warehouses after "
                   "the listed ones, by priority.",
        "FEWEST_SHIPMENTS": "As few warehouses as possible (greedy: the warehouse filling most remaining lines alone, units of "
                            "warehouses already chosen before a new one); ties by the ranking, else priority, then code.",
        "CLOSEST_COMPLETE": "The warehouse with everything that is closest: fewest transit days to the destination with the default "
                            "carrier (as the delivery promise counts them), then the nearer zone, then ranking/priority, then code. "
                            "None has everything: the rule's fallbackStrategy (default PRIORITY).",
    }),
    # backorders, issue 19
    "InventoryPolicy": ("What placing an order does when a product's on-hand stock (in the warehouses serving the order's channel) falls "
                        "short.", {
        "DENY": "Refuse with OUT_OF_STOCK (the default).",
        "BACKORDER": "On-hand units first; the shortfall claims expected receipts (scheduleReceipt), earliest first, and is promised from "
                     "the receipt's expectedAt. OUT_OF_STOCK only beyond on hand plus scheduled.",
        "PREORDER": "Before availableFrom every unit claims expected receipts (none is taken from stock); from that day on, as BACKORDER.",
    }),
    "ReceiptStatus": ("Where an expected stock receipt stands.", {
        "SCHEDULED": "Expected; nothing arrived yet.",
        "PARTIALLY_RECEIVED": "Some units arrived (receiveStock); the rest is still expected.",
        "RECEIVED": "Every expected unit arrived. Final.",
    }),
}

# The API's own enums (graphql_schema/enums.py): reading options, not business concepts.
API_ENUMS: dict[str, tuple[str, dict[str, str]]] = {
    "OrderSortField": (
        "What `orders` sorts on; ties are broken by the order's id, so a page boundary never skips or repeats an order.",
        {
            "PLACED_AT": "When the order was placed (the default, newest first).",
            "NUMBER": "The order number's serial (SO-100001 before SO-100002).",
            "TOTAL": "The order total, compared as a decimal (orders of different currencies are compared by amount alone).",
        },
    ),
    "SortDirection": (
        "The direction of a sort.",
        {
            "ASC": "Ascending: oldest, lowest or smallest first.",
            "DESC": "Descending: newest, highest or largest first.",
        },
    ),
}


def describe(enum: type[Enum]) -> type[Enum]:
    """Register an enum with strawberry under its own name (unless it is already) and apply its descriptions
    from DOMAIN_ENUMS and API_ENUMS; a description already given (strawberry.enum_value) is kept. Strawberry
    keeps each value's description on the mutable EnumValue of the enum's definition, and the schema (and the
    printed SDL) reads it from there."""
    description, values = DOMAIN_ENUMS.get(enum.__name__) or API_ENUMS.get(enum.__name__) or (None, {})
    definition = getattr(enum, "__strawberry_definition__", None)
    if definition is None:
        strawberry.enum(enum, description=description)
        definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    elif description is not None:
        definition.description = description
    for value in definition.values:
        value.description = values.get(value.name, value.description)
    return enum
