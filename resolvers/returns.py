"""Returns and support inquiries: staff and partner access by scope, customer access by the tracking pair."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from strawberry.dataloader import DataLoader

from app.flows import returns as return_flows
from app.infra.database import UnitOfWork
from app.inquiries import service as inquiries
from app.orders.enums import AuthorType
from app.returns import service as returns
from models import Order, Warehouse
from models.returns import Inquiry, InquiryMessage, ReturnLine, ReturnRequest
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.inputs import (
    CustomerInquiryMessageArgs,
    CustomerReturnArgs,
    InquiryIdArgs,
    InquiryMessageArgs,
    OpenCustomerInquiryArgs,
    OpenInquiryArgs,
    PostSaleFilterArgs,
    ReceiveReturnArgs,
    ReturnDecisionArgs,
    ReturnRequestArgs,
    StaffReturnArgs,
)
from resolvers.planner.api import Planned, planned
from resolvers.tracking import customer_order, find_tracked_order
from resolvers.types import Info, MutationPayload

# --- loaders (one statement per batch, whatever the page size) -----------------------------------


def _return_lines(info: Info) -> DataLoader[uuid.UUID, list[ReturnLine]]:
    return info.context.loaders.extra("return_lines", lambda loaders: loaders.grouped(ReturnLine, ReturnLine.return_id, ReturnLine.position))


def _returns_by_order(info: Info) -> DataLoader[uuid.UUID, list[ReturnRequest]]:
    return info.context.loaders.extra("returns_by_order", lambda loaders: loaders.grouped(ReturnRequest, ReturnRequest.order_id, ReturnRequest.created_at))


def _inquiries_by_order(info: Info) -> DataLoader[uuid.UUID, list[Inquiry]]:
    return info.context.loaders.extra("inquiries_by_order", lambda loaders: loaders.grouped(Inquiry, Inquiry.order_id, Inquiry.created_at))


def _messages(info: Info) -> DataLoader[uuid.UUID, list[InquiryMessage]]:
    return info.context.loaders.extra("inquiry_messages", lambda loaders: loaders.grouped(InquiryMessage, InquiryMessage.inquiry_id, InquiryMessage.created_at))


async def return_lines(root: ReturnRequest, info: Info) -> list[ReturnLine]:
    return await _return_lines(info).load(root.id)


async def inquiry_messages(root: Inquiry, info: Info) -> list[InquiryMessage]:
    return await _messages(info).load(root.id)


async def order_returns(root: Order, info: Info) -> list[ReturnRequest]:
    await info.context.require("returns:read")
    return await _returns_by_order(info).load(root.id)


async def order_inquiries(root: Order, info: Info) -> list[Inquiry]:
    return await _inquiries_by_order(info).load(root.id)


async def related_order(info: Info, order_id: uuid.UUID | None) -> Order | None:
    """The order behind a return or case: only for callers who may read orders (customers see their own through tracking)."""
    if order_id is None:
        return None
    await info.context.require("orders:read")
    return await info.context.loaders.order.load(order_id)


async def restock_warehouse(root: ReturnLine, info: Info) -> Warehouse | None:
    return None if root.restock_warehouse_id is None else await info.context.loaders.warehouse.load(root.restock_warehouse_id)


async def staff_author(root: InquiryMessage, info: Info) -> str | None:
    """Who wrote it, for staff; customers see only whether staff or they wrote it."""
    principal = await info.context.principal()
    return root.author if principal is not None and principal.has("orders:read") else None


# --- lists ---------------------------------------------------------------------------------------


async def list_returns(
    info: Info, first: int | None, after: str | None, filter: PostSaleFilterArgs | None
) -> pagination.Connection[ReturnRequest] | Planned:
    await info.context.require("returns:read")
    if (json := await planned(info, "Query.returns", {"first": first, "after": after, "filter": filter})) is not None:
        return json
    conditions = pagination.order_filter(ReturnRequest.order_id, filter.order_id if filter else None)
    if filter is not None and filter.status:
        conditions.append(ReturnRequest.status.in_([s.value for s in filter.status]))
    return await pagination.newest_first(info.context.db, ReturnRequest, ReturnRequest.created_at, conditions, first, after)


async def list_inquiries(info: Info, first: int | None, after: str | None, filter: PostSaleFilterArgs | None) -> pagination.Connection[Inquiry]:
    await info.context.require("orders:read")
    conditions = pagination.order_filter(Inquiry.order_id, filter.order_id if filter else None)
    if filter is not None and filter.status:
        conditions.append(Inquiry.status.in_([s.value for s in filter.status]))
    return await pagination.newest_first(info.context.db, Inquiry, Inquiry.updated_at, conditions, first, after)


async def tracked_returns(info: Info, number: str, email: str) -> list[ReturnRequest]:
    order = await find_tracked_order(info, number, email)
    return [] if order is None else await _returns_by_order(info).load(order.id)


async def tracked_inquiries(info: Info, number: str, email: str) -> list[Inquiry]:
    order = await find_tracked_order(info, number, email)
    return [] if order is None else await _inquiries_by_order(info).load(order.id)


# --- mutations -----------------------------------------------------------------------------------


def _return_payload(result: ReturnRequest | None) -> dict[str, object]:
    return {"return_": result}


def _inquiry_payload(result: Inquiry | None) -> dict[str, object]:
    return {"inquiry": result}


def _request(input: ReturnRequestArgs, order_id: uuid.UUID) -> returns.ReturnRequestInput:
    lines: list[returns.ReturnLineRequest] = []
    for i, line in enumerate(input.lines):
        line_id = decode_id(line.order_line_id, "OrderLine", ["input", "lines", str(i), "orderLineId"]) if line.order_line_id else None
        lines.append(returns.ReturnLineRequest(quantity=line.quantity, order_line_id=line_id, sku=line.sku, reason=line.reason))
    return returns.ReturnRequestInput(
        order_id=order_id, lines=lines, reason=input.reason, resolution=input.resolution,
        replacement_lines=[returns.ReplacementLine(sku=r.sku, quantity=r.quantity) for r in input.replacement_lines or []],
    )


def _customer(email: str) -> str:
    return f"customer:{email.strip().lower()[:180]}"


async def request_return(info: Info, input: StaffReturnArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> ReturnRequest:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await returns.request_return(uow=uow, request=_request(input, order_id), requested_by=AuthorType.STAFF)

    return await run_mutation(info, scope="returns:write", action=work, payload=_return_payload)


async def request_customer_return(info: Info, input: CustomerReturnArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> ReturnRequest:
        order = await customer_order(info, input.number, input.email)
        return await returns.request_return(uow=uow, request=_request(input, order.id), requested_by=AuthorType.CUSTOMER)

    return await run_mutation(info, scope=None, public_actor=_customer(input.email), action=work, payload=_return_payload)


class _Decision(Protocol):
    def __call__(self, *, uow: UnitOfWork, return_id: uuid.UUID, note: str | None = None) -> Awaitable[ReturnRequest]: ...


def _decision(action: _Decision) -> Callable[[Info, ReturnDecisionArgs], Awaitable[MutationPayload]]:
    async def mutate(info: Info, input: ReturnDecisionArgs) -> MutationPayload:
        async def work(uow: UnitOfWork) -> ReturnRequest:
            return await action(uow=uow, return_id=decode_id(input.return_id, "Return", ["input", "returnId"]), note=input.note)

        return await run_mutation(info, scope="returns:write", action=work, payload=_return_payload)

    return mutate


approve_return = _decision(return_flows.approve_return)
reject_return = _decision(returns.reject_return)


async def receive_return(info: Info, input: ReceiveReturnArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> ReturnRequest:
        return_id = decode_id(input.return_id, "Return", ["input", "returnId"])
        inspections = [
            returns.Inspection(
                return_line_id=decode_id(line.return_line_id, "ReturnLine", ["input", "lines", str(i), "returnLineId"]),
                result=line.result, warehouse_code=line.warehouse_code, note=line.note,
            )
            for i, line in enumerate(input.lines)
        ]
        return await returns.receive_return(uow=uow, return_id=return_id, inspections=inspections)

    return await run_mutation(info, scope="returns:write", action=work, payload=_return_payload)


async def open_inquiry(info: Info, input: OpenInquiryArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Inquiry:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await inquiries.open_inquiry(uow=uow, order_id=order_id, subject=input.subject, body=input.body,
                                            author_type=AuthorType.STAFF, author=uow.actor)

    return await run_mutation(info, scope="orders:write", action=work, payload=_inquiry_payload)


async def reply_to_inquiry(info: Info, input: InquiryMessageArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Inquiry:
        inquiry_id = decode_id(input.inquiry_id, "Inquiry", ["input", "inquiryId"])
        return await inquiries.post_message(uow=uow, inquiry_id=inquiry_id, body=input.body, author_type=AuthorType.STAFF, author=uow.actor)

    return await run_mutation(info, scope="orders:write", action=work, payload=_inquiry_payload)


async def close_inquiry(info: Info, input: InquiryIdArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Inquiry:
        inquiry_id = decode_id(input.inquiry_id, "Inquiry", ["input", "inquiryId"])
        return await inquiries.close_inquiry(uow=uow, inquiry_id=inquiry_id, closed_by=AuthorType.STAFF)

    return await run_mutation(info, scope="orders:write", action=work, payload=_inquiry_payload)


async def open_customer_inquiry(info: Info, input: OpenCustomerInquiryArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Inquiry:
        order = await customer_order(info, input.number, input.email)
        return await inquiries.open_inquiry(uow=uow, order_id=order.id, subject=input.subject, body=input.body,
                                            author_type=AuthorType.CUSTOMER, author=order.email)

    return await run_mutation(info, scope=None, public_actor=_customer(input.email), action=work, payload=_inquiry_payload)


async def post_customer_inquiry_message(info: Info, input: CustomerInquiryMessageArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Inquiry:
        order = await customer_order(info, input.number, input.email)
        inquiry_id = decode_id(input.inquiry_id, "Inquiry", ["input", "inquiryId"])
        return await inquiries.post_message(uow=uow, inquiry_id=inquiry_id, body=input.body, author_type=AuthorType.CUSTOMER,
                                            author=order.email, order_id=order.id)

    return await run_mutation(info, scope=None, public_actor=_customer(input.email), action=work, payload=_inquiry_payload)
