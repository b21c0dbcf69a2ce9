"""Sourcing rules as data (issue 19): which warehouses an order's units are reserved in.

Pure: placement reads the rules (table sourcing_rules, in list order) and the default carrier's transit table in
the same statement as the catalogue and its stock (service._read_catalogue: one snapshot, no cache, nothing
locked), and plans here, in the snapshot pass and again in the locked re-plan (the same rules: the placement
carries them). The rules only PLAN: the units are reserved by allocation's one-statement conditional reservation
(or on locked rows), so no rule can oversell.

Which rule applies: among the rules whose channel and delivery type match (None: any), the most specific for the
destination wins: a rule naming the destination COUNTRY beats one naming its ZONE, which beats one naming neither;
among equals, the first in the list. A rule naming countries or zones that do not include the destination does not
match. The destination's zone is the nearest one from the warehouses considered (DOMESTIC when one of them is in the
destination country, else EU when one is in the EU and so is the destination, else INTERNATIONAL). No rule matches,
or no rules at all: PRIORITY, i.e. today's `allocation.plan_allocation`, exactly.

What each strategy does, after the rule's exclusions are dropped (excluded warehouses are never used under the
rule, even when that leaves the order OUT_OF_STOCK; except a PICKUP order's pickup point, which the customer chose:
no rule excludes it for that order, the exclusions apply to the warehouses its shortfall is transferred from):
- PRIORITY: one warehouse that fills everything, the lowest `priority` first; else split, favouring the warehouses
  that fill most lines (`allocation.plan_allocation`).
- RANKING: the same with the rule's ranking (warehouse codes, best first) in place of the priority; warehouses it
  does not list come after every listed one, by priority.
- FEWEST_SHIPMENTS: as few warehouses as it can (greedy: a warehouse already chosen that fills a line alone, else the
  new warehouse that fills most of the remaining lines alone, else the remaining units from the chosen warehouses,
  then from the new warehouse that has most of them); ties by the ranking if the rule has one, else priority, then
  code.
- CLOSEST_COMPLETE: the warehouse that fills everything with the fewest transit days to the destination (the
  default carrier's table, as the delivery promise counts them), then the nearer zone, then the ranking/priority,
  then code. None fills everything: the rule's fallback strategy (default PRIORITY).
Every strategy refuses OUT_OF_STOCK, naming the first SKU the usable warehouses cannot fill together.

`Routing.explanation` is what the PLACED event's data carries under "sourcing" (only when rules are configured):
{"rule": position | null, "name", "strategy", "fallback" (when used), "destinationZone", "considered": [{"warehouse",
"fills" (everything), "linesFilled", "transitDays", "zone"}], "excluded": [codes], "chosen": [codes], "why"}.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path, collect
from app.infra.database import UnitOfWork
from app.orders.allocation import Candidate, Pick, plan_allocation
from app.orders.enums import DeliveryType, SalesChannel, SourcingStrategy
from app.validation import COUNTRIES, member_of
from models import Warehouse
from models.sourcing import SourcingRule

MAX_RULES = 100
ZONES = ("DOMESTIC", "EU", "INTERNATIONAL")
# The same set as app/fulfilment/carriers.py (app.orders may not import fulfilment: its package imports this one);
# tests/test_sourcing_unit.py checks that both give the same zones and transit days.
EU_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())


def zone_of(origin_country: str, destination_country: str) -> str:
    origin, destination = origin_country.upper(), destination_country.upper()
    if origin == destination:
        return "DOMESTIC"
    if origin in EU_COUNTRIES and destination in EU_COUNTRIES:
        return "EU"
    return "INTERNATIONAL"


@dataclass(frozen=True, slots=True)
class Transit:
    """The default carrier's transit days (CarrierRules' lookup: destination country, then zone, then default)."""

    days: Mapping[str, int] = field(default_factory=dict)
    default_days: int = 2  # app/fulfilment/carriers.FALLBACK: no carrier configured

    def to(self, origin_country: str, destination_country: str) -> int:
        destination = destination_country.upper()
        if destination in self.days:
            return int(self.days[destination])
        zone = zone_of(origin_country, destination)
        if zone in self.days:
            return int(self.days[zone])
        return self.default_days


@dataclass(frozen=True, slots=True)
class Rule:
    """One sourcing rule (models/sourcing.py SourcingRule, detached)."""

    position: int
    strategy: SourcingStrategy
    name: str | None = None
    channel: SalesChannel | None = None
    countries: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    delivery_type: DeliveryType | None = None
    fallback: SourcingStrategy | None = None
    ranking: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def tier(self, *, channel: SalesChannel, country: str, zone: str, delivery_type: DeliveryType) -> int | None:
        """How specifically the rule matches (0 country, 1 zone, 2 any destination); None: it does not."""
        if self.channel is not None and self.channel != channel:
            return None
        if self.delivery_type is not None and self.delivery_type != delivery_type:
            return None
        if country in self.countries:
            return 0
        if zone in self.zones:
            return 1
        if not self.countries and not self.zones:
            return 2
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What placement read with its catalogue: the rules in list order and the default carrier's transit table."""

    rules: tuple[Rule, ...] = ()
    transit: Transit = field(default_factory=Transit)


NO_RULES = Snapshot()

# The catalogue statement's extra column (service._read_catalogue): NULL without rules (the usual case costs one
# InitPlan), else {"rules": [...], "carrier": {"days", "default"} | null} as text, on one row of the result only.
SNAPSHOT_SQL = """CASE WHEN row_number() OVER () = 1 THEN (
  SELECT json_build_object(
    'rules', json_agg(json_build_object('position', r.position, 'name', r.name, 'channel', r.channel, 'countries', r.countries,
                      'zones', r.zones, 'deliveryType', r.delivery_type, 'strategy', r.strategy, 'fallback', r.fallback_strategy,
                      'ranking', r.ranking, 'exclude', r.exclude) ORDER BY r.position),
    'carrier', (SELECT json_build_object('days', c.transit_days, 'default', c.default_transit_days) FROM carriers c
                WHERE c.active ORDER BY c.is_default DESC, c.code LIMIT 1))::text
  FROM sourcing_rules r HAVING count(*) > 0) END"""


def snapshot_of(raw: str | None) -> Snapshot:
    """The snapshot from SNAPSHOT_SQL's text (None: no rules)."""
    if not raw:
        return NO_RULES
    body = json.loads(raw)
    rules = tuple(
        Rule(position=int(r["position"]), strategy=SourcingStrategy(r["strategy"]), name=r.get("name"),
             channel=SalesChannel(r["channel"]) if r.get("channel") else None, countries=tuple(r.get("countries") or ()),
             zones=tuple(r.get("zones") or ()), delivery_type=DeliveryType(r["deliveryType"]) if r.get("deliveryType") else None,
             fallback=SourcingStrategy(r["fallback"]) if r.get("fallback") else None, ranking=tuple(r.get("ranking") or ()),
             exclude=tuple(r.get("exclude") or ()))
        for r in body.get("rules") or ()
    )
    carrier = body.get("carrier")
    transit = Transit({str(k): int(v) for k, v in (carrier.get("days") or {}).items()}, int(carrier["default"])) if carrier else Transit()
    return Snapshot(rules, transit)


def destination_zone(candidates: Iterable[Candidate], destination_country: str) -> str:
    """The nearest zone of the destination from the warehouses considered (INTERNATIONAL without any)."""
    zones = {zone_of(c.country, destination_country) for c in candidates}
    return next((z for z in ZONES if z in zones), "INTERNATIONAL")


def choose_rule(rules: Sequence[Rule], *, channel: SalesChannel, country: str, zone: str, delivery_type: DeliveryType) -> Rule | None:
    """The rule that applies (see the module doc): the most specific match, then the first in the list."""
    best: tuple[int, int] | None = None
    chosen: Rule | None = None
    for rule in rules:
        tier = rule.tier(channel=channel, country=country, zone=zone, delivery_type=delivery_type)
        if tier is not None and (best is None or (tier, rule.position) < best):
            best, chosen = (tier, rule.position), rule
    return chosen


def _check_available(demand: Mapping[str, int], candidates: Sequence[Candidate], sku_paths: Mapping[str, Path]) -> None:
    for sku, quantity in demand.items():
        if sum(c.available for c in candidates if c.sku == sku) < quantity:
            raise DomainError(ErrorCode.OUT_OF_STOCK, f"Not enough stock of {sku} for this order.", sku_paths[sku])


def _warehouses(candidates: Sequence[Candidate]) -> dict[uuid.UUID, dict[str, Candidate]]:
    by_warehouse: dict[uuid.UUID, dict[str, Candidate]] = {}
    for c in candidates:
        by_warehouse.setdefault(c.warehouse_id, {})[c.sku] = c
    return by_warehouse


def _rank(candidates: Sequence[Candidate], ranking: Sequence[str]) -> dict[uuid.UUID, int]:
    """Warehouse -> its place: the ranking's codes first, in order, then the others by (priority, code)."""
    listed = {code: i for i, code in enumerate(ranking)}
    first = {c.warehouse_id: c for c in candidates}
    others = sorted((c for c in first.values() if c.code not in listed), key=lambda c: (c.priority, c.code, str(c.warehouse_id)))
    rank = {w: listed[c.code] for w, c in first.items() if c.code in listed}
    rank.update({c.warehouse_id: len(ranking) + i for i, c in enumerate(others)})
    return rank


def _tie_rank(candidates: Sequence[Candidate], ranking: Sequence[str]) -> dict[uuid.UUID, tuple[int, str]]:
    if ranking:
        place = _rank(candidates, ranking)
        return {c.warehouse_id: (place[c.warehouse_id], c.code) for c in candidates}
    return {c.warehouse_id: (c.priority, c.code) for c in candidates}


def plan_ranking(demand: Mapping[str, int], candidates: Sequence[Candidate], sku_paths: Mapping[str, Path], ranking: Sequence[str]) -> list[Pick]:
    """PRIORITY's rule with the ranking's places in place of the warehouses' priorities."""
    place = _rank(candidates, ranking)
    ranked = [Candidate(c.stock_level_id, c.sku, c.warehouse_id, place[c.warehouse_id], c.reserved, c.available, c.country, c.code)
              for c in candidates]
    return plan_allocation(demand, ranked, sku_paths)


def plan_fewest(demand: Mapping[str, int], candidates: Sequence[Candidate], sku_paths: Mapping[str, Path], ranking: Sequence[str] = ()) -> list[Pick]:
    """As few warehouses as the greedy rule of the module doc finds."""
    _check_available(demand, candidates, sku_paths)
    by_warehouse = _warehouses(candidates)
    tie = _tie_rank(candidates, ranking)
    remaining = {sku: n for sku, n in demand.items() if n > 0}
    chosen: list[uuid.UUID] = []
    picks: list[Pick] = []

    def available(w: uuid.UUID, sku: str) -> int:
        c = by_warehouse[w].get(sku)
        return c.available if c is not None else 0

    def take(w: uuid.UUID, sku: str, n: int) -> None:
        c = by_warehouse[w][sku]
        picks.append(Pick(c.stock_level_id, sku, w, n))
        by_warehouse[w][sku] = Candidate(c.stock_level_id, sku, w, c.priority, c.reserved + n, c.available - n, c.country, c.code)
        remaining[sku] -= n
        if remaining[sku] == 0:
            del remaining[sku]

    while remaining:
        # 1. a line a chosen warehouse fills alone: no new shipment
        filled = next(((w, sku) for sku in list(remaining) for w in chosen if available(w, sku) >= remaining[sku]), None)
        if filled is not None:
            take(filled[0], filled[1], remaining[filled[1]])
            continue
        others = [w for w in by_warehouse if w not in chosen]
        # 2. the new warehouse that fills most remaining lines alone
        covers = {w: [sku for sku in remaining if available(w, sku) >= remaining[sku]] for w in others}
        best = min((w for w in others if covers[w]), key=lambda w: (-len(covers[w]), tie[w], str(w)), default=None)
        if best is not None:
            chosen.append(best)
            for sku in covers[best]:
                take(best, sku, remaining[sku])
            continue
        # 3. no warehouse fills a line alone: what the chosen ones have, then the new one with most of the rest
        topped = False
        for sku in list(remaining):
            for w in sorted(chosen, key=lambda w: tie[w]):
                n = min(remaining.get(sku, 0), available(w, sku))
                if n > 0:
                    take(w, sku, n)
                    topped = True
        if topped:
            continue
        units = {w: sum(min(n, available(w, sku)) for sku, n in remaining.items()) for w in others}
        best = min((w for w in others if units[w] > 0), key=lambda w: (-units[w], tie[w], str(w)))  # stock suffices: one exists
        chosen.append(best)
        for sku in list(remaining):
            n = min(remaining[sku], available(best, sku))
            if n > 0:
                take(best, sku, n)
    return picks


@dataclass(slots=True)
class Routing:
    """The rules of one placement (its snapshot), its request's facts, and the explanation of the last plan made."""

    snapshot: Snapshot
    channel: SalesChannel
    destination_country: str
    delivery_type: DeliveryType = DeliveryType.SHIP
    explanation: dict[str, Any] = field(default_factory=dict)  # filled by `plan`; PLACED's data["sourcing"] (the same dict)
    keep: str | None = None  # pickup, issue 19: a PICKUP order's pickup point (its code), never excluded: the customer chose it

    def usable(self, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates the rule that applies may use (its exclusions dropped; all of them without rules): what
        the backorder split counts on hand and where it claims receipts (issue 19 review F3). `plan` is still given
        every candidate: it chooses the same rule from them (the destination zone counts them all)."""
        if not self.snapshot.rules:
            return candidates
        country = self.destination_country.upper()
        rule = choose_rule(self.snapshot.rules, channel=self.channel, country=country, zone=destination_zone(candidates, country),
                           delivery_type=self.delivery_type)
        if rule is None or not rule.exclude:
            return candidates
        excluded = set(rule.exclude) - {self.keep}  # a PICKUP order's pickup point is never excluded (the customer chose it)
        return [c for c in candidates if c.code not in excluded]

    def plan(self, demand: Mapping[str, int], candidates: list[Candidate], sku_paths: Mapping[str, Path]) -> list[Pick]:
        """The picks under the rule that applies; updates `explanation` in place (a re-plan rewrites it)."""
        if not self.snapshot.rules:
            return plan_allocation(demand, candidates, sku_paths)  # today's plan, exactly
        picks, explanation = plan(demand, candidates, sku_paths, snapshot=self.snapshot, channel=self.channel,
                                  destination_country=self.destination_country, delivery_type=self.delivery_type, keep=self.keep)
        self.explanation.clear()
        self.explanation.update(explanation)
        return picks


def plan(
    demand: Mapping[str, int], candidates: Sequence[Candidate], sku_paths: Mapping[str, Path], *, snapshot: Snapshot,
    channel: SalesChannel, destination_country: str, delivery_type: DeliveryType = DeliveryType.SHIP, keep: str | None = None,
) -> tuple[list[Pick], dict[str, Any]]:
    """The picks and their explanation (see the module doc). OUT_OF_STOCK as `plan_allocation`. `keep`: a warehouse
    code no exclusion drops (a PICKUP order's pickup point; the rule's exclusions still apply to the others)."""
    country = destination_country.upper()
    zone = destination_zone(candidates, country)
    rule = choose_rule(snapshot.rules, channel=channel, country=country, zone=zone, delivery_type=delivery_type)
    strategy = rule.strategy if rule is not None else SourcingStrategy.PRIORITY
    ranking = rule.ranking if rule is not None else ()
    excluded = (set(rule.exclude) if rule is not None else set()) - {keep}
    pool = [c for c in candidates if c.code not in excluded]
    by_warehouse = _warehouses(pool)
    lines = {w: sum(1 for sku, n in demand.items() if (c := skus.get(sku)) is not None and c.available >= n) for w, skus in by_warehouse.items()}
    fills = {w: n == len(demand) for w, n in lines.items()}
    first = {c.warehouse_id: c for c in pool}
    transit = {w: snapshot.transit.to(c.country, country) for w, c in first.items()}
    zone_index = {w: ZONES.index(zone_of(c.country, country)) for w, c in first.items()}
    tie = _tie_rank(pool, ranking)
    fallback: SourcingStrategy | None = None
    why: str

    def by_strategy(s: SourcingStrategy) -> list[Pick]:
        if s == SourcingStrategy.RANKING:
            return plan_ranking(demand, pool, sku_paths, ranking)
        if s == SourcingStrategy.FEWEST_SHIPMENTS:
            return plan_fewest(demand, pool, sku_paths, ranking)
        return plan_allocation(demand, pool, sku_paths)

    if not demand:  # made-to-order lines only
        picks, why = [], "no stocked line: nothing to reserve"
    elif strategy == SourcingStrategy.CLOSEST_COMPLETE:
        _check_available(demand, pool, sku_paths)
        complete = [w for w in by_warehouse if fills[w]]
        if complete:
            best = min(complete, key=lambda w: (transit[w], zone_index[w], tie[w], str(w)))
            picks = [Pick(by_warehouse[best][sku].stock_level_id, sku, best, n) for sku, n in demand.items()]
            why = f"closest warehouse with everything: {first[best].code} ({transit[best]} transit days)"
        else:
            fallback = (rule.fallback if rule is not None else None) or SourcingStrategy.PRIORITY
            picks = by_strategy(fallback)
            why = f"no warehouse has everything: fallback {fallback}"
    else:
        picks = by_strategy(strategy)
        chosen_count = len({p.warehouse_id for p in picks})
        if rule is None:
            why = "no rule matches: warehouse priority (one warehouse with everything, else a split)"
        elif strategy == SourcingStrategy.RANKING:
            why = "the rule's ranking (the first ranked warehouse with everything, else a split in ranking order)"
        elif strategy == SourcingStrategy.FEWEST_SHIPMENTS:
            why = f"fewest shipments: {chosen_count} warehouse{'s' if chosen_count != 1 else ''}"
        else:
            why = "warehouse priority (one warehouse with everything, else a split)"
    chosen: list[str] = []
    for p in picks:
        code = first[p.warehouse_id].code
        if code not in chosen:
            chosen.append(code)
    considered = sorted(first.values(), key=lambda c: (tie[c.warehouse_id], str(c.warehouse_id)))
    explanation: dict[str, Any] = {
        "rule": rule.position if rule is not None else None,
        "name": rule.name if rule is not None else None,
        "strategy": str(strategy),
        "destinationZone": zone,
        "considered": [{"warehouse": c.code, "fills": fills[c.warehouse_id], "linesFilled": lines[c.warehouse_id],
                        "transitDays": transit[c.warehouse_id], "zone": ZONES[zone_index[c.warehouse_id]]} for c in considered],
        "excluded": sorted({c.code for c in candidates if c.code in excluded}),
        "chosen": chosen,
        "why": why,
    }
    if fallback is not None:
        explanation["fallback"] = str(fallback)
    return picks, explanation


# --- the stored list: setSourcingRules / sourcingRules ------------------------------------------------------------

MAX_NAME = 100
MAX_CODES = 100  # warehouse codes in a ranking or exclusion list, countries or zones of one rule


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule as given to `set_rules` (its position is its index in the list)."""

    strategy: SourcingStrategy | str
    name: str | None = None
    channel: SalesChannel | str | None = None
    countries: Sequence[str] = ()
    zones: Sequence[str] = ()
    delivery_type: DeliveryType | str | None = None
    fallback_strategy: SourcingStrategy | str | None = None
    ranking: Sequence[str] = ()
    exclude: Sequence[str] = ()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def set_rules(*, uow: UnitOfWork, rules: Sequence[RuleSpec]) -> list[SourcingRule]:
    """Replace the whole list in this transaction (the table locked EXCLUSIVE: concurrent sets queue, placements keep
    reading their snapshot). Refuses, writing nothing, with every problem at once: LIMIT_EXCEEDED (over 100 rules at
    `rules`, over 100 entries in a list), INVALID_INPUT (an unknown channel, strategy, delivery type, zone or country;
    RANKING without a ranking; a fallback on another strategy than CLOSEST_COMPLETE, or CLOSEST_COMPLETE as its own
    fallback; a name over 100 characters), NOT_FOUND (an unknown warehouse code in a ranking or exclusion)."""
    errors: list[DomainError] = []
    if len(rules) > MAX_RULES:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_RULES} sourcing rules.", ("rules",))
    await uow.session.execute(text("LOCK TABLE sourcing_rules IN EXCLUSIVE MODE"))
    codes = set((await uow.session.execute(select(Warehouse.code))).scalars())
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(rules):
        at: Path = ("rules", i)
        strategy = member_of(SourcingStrategy, spec.strategy, (*at, "strategy"), "Unknown strategy.", errors)
        channel = member_of(SalesChannel, spec.channel, (*at, "channel"), "Unknown sales channel.", errors) if spec.channel else None
        delivery = (member_of(DeliveryType, spec.delivery_type, (*at, "delivery_type"), "Unknown delivery type.", errors)
                    if spec.delivery_type else None)
        fallback = (member_of(SourcingStrategy, spec.fallback_strategy, (*at, "fallback_strategy"), "Unknown strategy.", errors)
                    if spec.fallback_strategy else None)
        name = spec.name.strip() if spec.name is not None and spec.name.strip() else None
        if name is not None and len(name) > MAX_NAME:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"A rule's name is at most {MAX_NAME} characters.", (*at, "name")))
        countries = _unique(c.strip().upper() for c in spec.countries)
        zones = _unique(z.strip().upper() for z in spec.zones)
        ranking = _unique(c.strip() for c in spec.ranking)
        exclude = _unique(c.strip() for c in spec.exclude)
        for list_name, values in (("countries", countries), ("zones", zones), ("ranking", ranking), ("exclude", exclude)):
            if len(values) > MAX_CODES:
                errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_CODES} entries.", (*at, list_name)))
        errors += [DomainError(ErrorCode.INVALID_INPUT, f"Unknown country {c!r} (ISO 3166-1 alpha-2).", (*at, "countries", j))
                   for j, c in enumerate(countries) if c not in COUNTRIES]
        errors += [DomainError(ErrorCode.INVALID_INPUT, f"Unknown zone {z!r} (DOMESTIC, EU or INTERNATIONAL).", (*at, "zones", j))
                   for j, z in enumerate(zones) if z not in ZONES]
        for list_name, values in (("ranking", ranking), ("exclude", exclude)):
            errors += [DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {c!r}.", (*at, list_name, j))
                       for j, c in enumerate(values) if c not in codes]
        if strategy == SourcingStrategy.RANKING and not ranking:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "RANKING needs a ranking of warehouse codes.", (*at, "ranking")))
        if fallback is not None and strategy is not None and strategy != SourcingStrategy.CLOSEST_COMPLETE:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Only CLOSEST_COMPLETE has a fallback strategy.", (*at, "fallback_strategy")))
        if fallback == SourcingStrategy.CLOSEST_COMPLETE:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "The fallback cannot be CLOSEST_COMPLETE itself.", (*at, "fallback_strategy")))
        rows.append({"id": uuid.uuid4(), "position": i, "name": name, "channel": channel, "countries": countries, "zones": zones,
                     "delivery_type": delivery, "strategy": strategy, "fallback_strategy": fallback, "ranking": ranking, "exclude": exclude})
    collect(errors)
    await uow.session.execute(delete(SourcingRule))
    if rows:
        await uow.session.execute(insert(SourcingRule), rows)
    return await list_rules(uow.session)


async def list_rules(session: AsyncSession) -> list[SourcingRule]:
    """The list in evaluation order (position)."""
    return list((await session.execute(select(SourcingRule).order_by(SourcingRule.position).execution_options(populate_existing=True))).scalars())
