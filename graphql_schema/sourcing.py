"""Sourcing rules as data and reallocateOrder (issue 19): their types, inputs and payloads."""

from __future__ import annotations

import strawberry

from graphql_schema.common import UserError
from graphql_schema.enums import DeliveryType, SalesChannel, SourcingStrategy

_MATCH = (" A rule applies to a placement when its channel and delivery type match (null: any); among those, one naming the "
          "destination country beats one naming its zone, which beats one naming neither; among equals, the lowest position.")


@strawberry.type(description="One sourcing rule: which placements it applies to and how it chooses their warehouses." + _MATCH)
class SourcingRule:
    position: int = strawberry.field(description="Its place in the list, from 0 (the order setSourcingRules was given).")
    name: str | None = strawberry.field(description="A label for people (shown in the PLACED event's explanation); null when none.")
    channel: SalesChannel | None = strawberry.field(description="The sales channel it applies to; null: every channel.")
    countries: list[str] = strawberry.field(description="Destination countries (ISO 3166-1 alpha-2) it applies to; empty: any.")
    zones: list[str] = strawberry.field(description=(
        "Destination zones it applies to (DOMESTIC, EU, INTERNATIONAL); empty: any. The destination's zone is its nearest from the "
        "warehouses considered: DOMESTIC when one is in the destination country, else EU when one and the destination are in the EU, "
        "else INTERNATIONAL."))
    delivery_type: DeliveryType | None = strawberry.field(description="The delivery type it applies to (SHIP or PICKUP); null: both.")
    strategy: SourcingStrategy = strawberry.field(description="How it chooses the warehouses.")
    fallback_strategy: SourcingStrategy | None = strawberry.field(description=(
        "CLOSEST_COMPLETE only: the strategy used when no warehouse has everything; null: PRIORITY."))
    ranking: list[str] = strawberry.field(description=(
        "Warehouse codes, best first: RANKING's order (required there); FEWEST_SHIPMENTS and CLOSEST_COMPLETE break ties by it "
        "(else by priority). Warehouses it does not list come after the listed ones, by priority."))
    exclude: list[str] = strawberry.field(description=(
        "Warehouse codes never used under this rule, even when the order is then OUT_OF_STOCK; except a PICKUP order's pickup "
        "point, which the customer chose (its shortfall is still never transferred from an excluded warehouse)."))


@strawberry.input(description="One sourcing rule of setSourcingRules (its position is its index in the list)." + _MATCH)
class SourcingRuleInput:
    strategy: SourcingStrategy = strawberry.field(description="How it chooses the warehouses.")
    name: str | None = strawberry.field(default=None, description="A label for people, at most 100 characters (INVALID_INPUT).")
    channel: SalesChannel | None = strawberry.field(default=None, description="Only placements of this channel; null: every channel.")
    countries: list[str] = strawberry.field(default_factory=list, description=(
        "Only these destination countries (ISO 3166-1 alpha-2; an unknown code is INVALID_INPUT at rules.N.countries.M); empty: any."))
    zones: list[str] = strawberry.field(default_factory=list, description=(
        "Only these destination zones: DOMESTIC, EU, INTERNATIONAL (anything else is INVALID_INPUT at rules.N.zones.M); empty: any."))
    delivery_type: DeliveryType | None = strawberry.field(default=None, description="Only SHIP or only PICKUP placements; null: both.")
    fallback_strategy: SourcingStrategy | None = strawberry.field(default=None, description=(
        "CLOSEST_COMPLETE only (elsewhere INVALID_INPUT), and not CLOSEST_COMPLETE itself: used when no warehouse has everything; "
        "null: PRIORITY."))
    ranking: list[str] = strawberry.field(default_factory=list, description=(
        "Warehouse codes, best first (at most 100; an unknown code is NOT_FOUND at rules.N.ranking.M). Required by RANKING "
        "(INVALID_INPUT); the tie-break of FEWEST_SHIPMENTS and CLOSEST_COMPLETE."))
    exclude: list[str] = strawberry.field(default_factory=list, description=(
        "Warehouse codes never used under this rule (at most 100; an unknown code is NOT_FOUND at rules.N.exclude.M), except a "
        "PICKUP order's pickup point, which the customer chose (its shortfall is still never transferred from an excluded warehouse)."))


@strawberry.input(description="The whole ordered list of sourcing rules; it replaces the current one.")
class SetSourcingRulesInput:
    rules: list[SourcingRuleInput] = strawberry.field(description=(
        "At most 100 rules (LIMIT_EXCEEDED at rules), in evaluation order; an empty list removes every rule (placement then plans by "
        "warehouse priority, as with no rules)."))


@strawberry.type(description="The result of setSourcingRules.")
class SetSourcingRulesPayload:
    rules: list[SourcingRule] | None = strawberry.field(description="The list now in force, by position; null when refused.")
    user_errors: list[UserError] = strawberry.field(description=(
        "Why nothing was changed (the list stays as it was): LIMIT_EXCEEDED, INVALID_INPUT, NOT_FOUND, with their field paths."))


@strawberry.input(description="Units of one SKU an order has reserved in one warehouse, moved to another.")
class AllocationMoveInput:
    sku: str = strawberry.field(description="The SKU (one of the order's stocked lines).")
    from_warehouse_code: str = strawberry.field(description="Where the units are reserved now.")
    to_warehouse_code: str = strawberry.field(description="Where they are to be reserved instead (it must serve the order's channel).")
    quantity: int = strawberry.field(description="How many units, at least 1; at most the unshipped units not on a pick list there.")


@strawberry.input(description=(
    "Which of an order's reserved units move: `moves`, or `warehouseCode` to move every open unit held elsewhere to that warehouse "
    "(exactly one of the two)."))
class ReallocateOrderInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    moves: list[AllocationMoveInput] | None = strawberry.field(default=None, description="The moves, applied together (at most 100).")
    warehouse_code: str | None = strawberry.field(default=None, description=(
        "Move every unshipped unit not on a pick list, from every other warehouse, to this one."))
