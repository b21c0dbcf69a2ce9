"""The order domain's vocabularies: where an order comes from, where it stands, how it is paid, what its
timeline records. Other domains (billing, fulfilment, returns, inquiries) build on these; orders import none of theirs."""

from __future__ import annotations

from enum import StrEnum


class SalesChannel(StrEnum):
    """Where an order was placed; warehouses say which channels they serve."""

    WEB = "WEB"
    MOBILE = "MOBILE"
    PHONE = "PHONE"
    MARKETPLACE = "MARKETPLACE"
    STORE = "STORE"


class OrderStatus(StrEnum):
    """Where an order stands; the moves between them are in app/orders/state_machine.py."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    ON_HOLD = "ON_HOLD"
    PROCESSING = "PROCESSING"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"
    CANCELLED = "CANCELLED"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"  # pickup, issue 19: a click-and-collect order waiting at its pickup point


class PaymentMethod(StrEnum):
    """How the customer pays: chosen at placement, the method of each payment (app/billing)."""

    CARD = "CARD"
    BANK_TRANSFER = "BANK_TRANSFER"
    CASH_ON_DELIVERY = "CASH_ON_DELIVERY"
    OTHER = "OTHER"
    PAY_BY_LINK = "PAY_BY_LINK"  # holds, issue 18: the customer pays through a link; pending (like a transfer) until recorded


class DeliveryType(StrEnum):
    """How the customer receives an order (issue 19): shipped by carrier, or collected at a pickup point."""

    SHIP = "SHIP"
    PICKUP = "PICKUP"


class PaymentStatus(StrEnum):
    """The order's payment status; billing derives it from the order's payments (app/billing/payments.py)."""

    UNPAID = "UNPAID"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"


class AuthorType(StrEnum):
    """Who acted on an order's post-sale care: the customer (through the tracking pair) or staff."""

    CUSTOMER = "CUSTOMER"
    STAFF = "STAFF"


class OrderEventType(StrEnum):
    """Every kind of entry on an order's timeline (app/orders/events.py), whichever domain records it."""

    # orders
    PLACED = "PLACED"
    STATUS_CHANGED = "STATUS_CHANGED"
    # billing: payments
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    PAYMENT_CAPTURED = "PAYMENT_CAPTURED"
    PAYMENT_RECEIVED = "PAYMENT_RECEIVED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    PAYMENT_VOIDED = "PAYMENT_VOIDED"
    PAYMENT_EXPIRED = "PAYMENT_EXPIRED"
    LINES_REFUNDED = "LINES_REFUNDED"
    # billing: invoicing
    INVOICE_ISSUED = "INVOICE_ISSUED"
    CREDIT_NOTE_ISSUED = "CREDIT_NOTE_ISSUED"
    # fulfilment
    PICK_LIST_CREATED = "PICK_LIST_CREATED"
    SHIPMENT_CREATED = "SHIPMENT_CREATED"
    TRACKING_UPDATED = "TRACKING_UPDATED"
    DELIVERY_ESTIMATE_CHANGED = "DELIVERY_ESTIMATE_CHANGED"
    # returns
    RETURN_REQUESTED = "RETURN_REQUESTED"
    RETURN_APPROVED = "RETURN_APPROVED"
    RETURN_REJECTED = "RETURN_REJECTED"
    RETURN_RECEIVED = "RETURN_RECEIVED"
    EXCHANGE_ORDER_PLACED = "EXCHANGE_ORDER_PLACED"
    # inquiries
    INQUIRY_OPENED = "INQUIRY_OPENED"
    INQUIRY_MESSAGE = "INQUIRY_MESSAGE"
    INQUIRY_CLOSED = "INQUIRY_CLOSED"
    SHIPMENT_RETURNED = "SHIPMENT_RETURNED"  # alerts, issue 19: a parcel came back to the sender; its units restocked
    METADATA_UPDATED = "METADATA_UPDATED"  # partner
    # holds, issue 18: a hold added to an order already on hold / one released while others remain (the first hold and
    # the last release are the STATUS_CHANGED they always were); a risk verdict recorded; money received after the
    # order was cancelled UNPAID (refund owed, never attached to the order)
    HOLD_ADDED = "HOLD_ADDED"
    HOLD_RELEASED = "HOLD_RELEASED"
    RISK_ASSESSED = "RISK_ASSESSED"
    LATE_PAYMENT_RECEIVED = "LATE_PAYMENT_RECEIVED"
    # edits, issue 18: an applied editOrder (data: before/after lines, totals, address, money) and cancelOrderLines
    ORDER_EDITED = "ORDER_EDITED"
    LINES_CANCELLED = "LINES_CANCELLED"
    # stages, issue 19: a made-to-order line moved to another production stage (advanceProduction)
    PRODUCTION_STAGE_CHANGED = "PRODUCTION_STAGE_CHANGED"
    # pickup, issue 19: a click-and-collect order is ready at its pickup point (markReadyForPickup; the code is never in
    # the event's data) / was collected there with its code (collectOrder): both move the order's status
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    COLLECTED = "COLLECTED"
    # sourcing, issue 19: reallocateOrder moved open units to other warehouses (data: the moves, before/after per warehouse)
    REALLOCATED = "REALLOCATED"
    BACKORDER_ALLOCATED = "BACKORDER_ALLOCATED"  # backorders, issue 19: a receipt's arrival gave backordered units of the order stock
    # transfers, issue 19 (internal, never in the public tracking view; the order's status does not move): a PICKUP order's
    # units left another warehouse for its pickup point / a carrier report on that transfer / the transfer arrived there
    TRANSFER_SHIPPED = "TRANSFER_SHIPPED"
    TRANSFER_UPDATED = "TRANSFER_UPDATED"
    TRANSFER_ARRIVED = "TRANSFER_ARRIVED"


# holds, issue 18 ---------------------------------------------------------------------------------------------


class RiskLevel(StrEnum):
    """How risky an order looks (app/orders/risk.py): the highest level among the rules it matched; LOW when none did."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class RiskSource(StrEnum):
    """Who assessed an order's risk: the installation's rules at placement, or an external provider (assessOrderRisk)."""

    RULES = "RULES"
    PROVIDER = "PROVIDER"


class RiskRuleKind(StrEnum):
    """What a risk rule (table risk_rules) looks at; its params say the thresholds."""

    AMOUNT_OVER = "AMOUNT_OVER"
    COUNTRY_MISMATCH = "COUNTRY_MISMATCH"
    EMAIL_VELOCITY = "EMAIL_VELOCITY"
    FIRST_ORDER_OVER = "FIRST_ORDER_OVER"


# edits, issue 18
class LineCancellationReason(StrEnum):
    """Why units of an order's lines were cancelled (cancelOrderLines)."""

    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    FRAUD = "FRAUD"
    OTHER = "OTHER"


# edits, issue 18
class OrderEditKind(StrEnum):
    """What an `order_edits` row records."""

    EDIT = "EDIT"
    LINE_CANCELLATION = "LINE_CANCELLATION"


# stages, issue 19
class ProductionStage(StrEnum):
    """Where a made-to-order line stands in production (app/orders/production.py); stock lines have none."""

    QUEUED = "QUEUED"
    IN_PRODUCTION = "IN_PRODUCTION"
    QUALITY_CHECK = "QUALITY_CHECK"
    READY = "READY"


# sourcing, issue 19
class SourcingStrategy(StrEnum):
    """How a sourcing rule (table sourcing_rules, app/orders/sourcing.py) chooses the warehouses of an order."""

    PRIORITY = "PRIORITY"
    RANKING = "RANKING"
    FEWEST_SHIPMENTS = "FEWEST_SHIPMENTS"
    CLOSEST_COMPLETE = "CLOSEST_COMPLETE"


# backorders, issue 19
class InventoryPolicy(StrEnum):
    """What a product's placement does when its on-hand stock falls short (app/catalog/receipts.py)."""

    DENY = "DENY"  # refuse (OUT_OF_STOCK): the default
    BACKORDER = "BACKORDER"  # the shortfall claims expected receipts (scheduleReceipt)
    PREORDER = "PREORDER"  # before available_from every unit claims receipts; from that day as BACKORDER


# backorders, issue 19
class ReceiptStatus(StrEnum):
    """Where an expected stock receipt stands."""

    SCHEDULED = "SCHEDULED"  # expected, nothing arrived yet
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED"  # some units arrived (receiveStock), more expected
    RECEIVED = "RECEIVED"  # every expected unit arrived
