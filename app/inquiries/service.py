"""Support inquiries: cases about one order, with messages from the customer and from staff.

Status says whose turn it is: OPEN (waiting for staff), ANSWERED (waiting for the customer),
CLOSED. A new message reopens a closed case. Every step is an order event, so dashboards and
the customer's tracking page see it live; the message body stays out of the event (the event
carries ids, the body is read from the case with the right access).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode, collect
from app.infra.database import UnitOfWork
from app.inquiries.enums import InquiryStatus
from app.orders import events
from app.orders import service as orders
from app.orders.enums import AuthorType, OrderEventType
from models import Order
from models.returns import Inquiry, InquiryMessage

MAX_SUBJECT = 300
MAX_BODY = 5000
# A customer-facing form can be abused: cap the cases one order can have open at once.
MAX_OPEN_PER_ORDER = 20


def _body(body: str, errors: list[DomainError]) -> str:
    body = (body or "").strip()
    if not body or len(body) > MAX_BODY:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"A message is 1 to {MAX_BODY} characters.", ("body",)))
    return body


def _waiting_on(author_type: AuthorType) -> InquiryStatus:
    return InquiryStatus.OPEN if author_type == AuthorType.CUSTOMER else InquiryStatus.ANSWERED


def _add_message(uow: UnitOfWork, inquiry: Inquiry, order: Order, *, author_type: AuthorType, author: str | None, body: str) -> InquiryMessage:
    message = InquiryMessage(id=uuid.uuid4(), inquiry_id=inquiry.id, author_type=author_type, author=author, body=body)
    uow.session.add(message)
    inquiry.status, inquiry.updated_at = _waiting_on(author_type), datetime.now(UTC)
    events.record(uow, order, OrderEventType.INQUIRY_MESSAGE, data={
        "inquiryNumber": inquiry.number, "messageId": str(message.id), "authorType": author_type, "inquiryStatus": inquiry.status,
    })
    return message


async def open_inquiry(*, uow: UnitOfWork, order_id: uuid.UUID, subject: str, body: str, author_type: AuthorType, author: str | None = None) -> Inquiry:
    errors: list[DomainError] = []
    subject = (subject or "").strip()
    if not subject or len(subject) > MAX_SUBJECT:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"A subject is 1 to {MAX_SUBJECT} characters.", ("subject",)))
    body = _body(body, errors)
    collect(errors)
    order = await orders.get_for_update(uow=uow, order_id=order_id)
    still_open = (await uow.session.execute(
        select(func.count()).select_from(Inquiry).where(Inquiry.order_id == order.id, Inquiry.status != InquiryStatus.CLOSED)
    )).scalar_one()
    if still_open >= MAX_OPEN_PER_ORDER:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"This order already has {still_open} cases open.", ("order_id",))
    serial = (await uow.session.execute(text("SELECT nextval('inquiry_number_seq')"))).scalar_one()
    inquiry = Inquiry(id=uuid.uuid4(), number=f"CASE-{serial:06d}", order_id=order.id, subject=subject,
                      status=_waiting_on(author_type), opened_by=author_type)
    uow.session.add(inquiry)
    await uow.session.flush()
    events.record(uow, order, OrderEventType.INQUIRY_OPENED, data={"inquiryNumber": inquiry.number, "subject": subject, "openedBy": author_type})
    _add_message(uow, inquiry, order, author_type=author_type, author=author, body=body)
    await uow.session.flush()
    return inquiry


async def _lock(uow: UnitOfWork, inquiry_id: uuid.UUID) -> tuple[Order, Inquiry]:
    return await orders.lock_order_row(uow=uow, model=Inquiry, row_id=inquiry_id, path=("inquiry_id",), missing="No such inquiry.")


async def post_message(*, uow: UnitOfWork, inquiry_id: uuid.UUID, body: str, author_type: AuthorType, author: str | None = None,
                       order_id: uuid.UUID | None = None) -> Inquiry:
    """`order_id`, when given, must own the case: the customer proves access through the order."""
    errors: list[DomainError] = []
    body = _body(body, errors)
    collect(errors)
    order, inquiry = await _lock(uow, inquiry_id)
    if order_id is not None and inquiry.order_id != order_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such inquiry.", ("inquiry_id",))
    _add_message(uow, inquiry, order, author_type=author_type, author=author, body=body)
    await uow.session.flush()
    return inquiry


async def close_inquiry(*, uow: UnitOfWork, inquiry_id: uuid.UUID, closed_by: AuthorType, order_id: uuid.UUID | None = None) -> Inquiry:
    order, inquiry = await _lock(uow, inquiry_id)
    if order_id is not None and inquiry.order_id != order_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such inquiry.", ("inquiry_id",))
    if inquiry.status == InquiryStatus.CLOSED:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "The inquiry is already closed.", ("inquiry_id",))
    inquiry.status, inquiry.updated_at = InquiryStatus.CLOSED, datetime.now(UTC)
    events.record(uow, order, OrderEventType.INQUIRY_CLOSED, data={"inquiryNumber": inquiry.number, "closedBy": closed_by})
    return inquiry
