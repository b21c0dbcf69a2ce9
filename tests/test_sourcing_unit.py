"""Sourcing rules (app/orders/sourcing.py) on in-memory stock figures: which rule applies, what each strategy
chooses, the explanation, and that no rules means today's plan exactly. Pure: no database.

The fixture is three warehouses, ES (priority 1), PT (priority 2) and FR (priority 3), each with X and Y, and Z spread
so that no single warehouse has 8; the default carrier is SEUR's table (DOMESTIC 1, PT 2, EU 3, INTERNATIONAL 6).
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import time

import pytest

from app.errors import DomainError, ErrorCode
from app.fulfilment import carriers
from app.orders import sourcing
from app.orders.allocation import Candidate, Pick, plan_allocation
from app.orders.enums import DeliveryType, SalesChannel, SourcingStrategy
from app.orders.sourcing import Rule, Snapshot, Transit

S = SourcingStrategy
SEUR = Transit({"DOMESTIC": 1, "PT": 2, "EU": 3, "INTERNATIONAL": 6}, 6)
COUNTRY = {"ES": "ES", "PT": "PT", "FR": "FR", "US": "US"}
PRIORITY = {"ES": 1, "PT": 2, "FR": 3, "US": 4}
IDS = {code: uuid.UUID(int=i + 1) for i, code in enumerate(COUNTRY)}
CODES = {v: k for k, v in IDS.items()}


def stock(warehouse: str, sku: str, available: int) -> Candidate:
    return Candidate(uuid.uuid5(uuid.NAMESPACE_OID, f"{warehouse}/{sku}"), sku, IDS[warehouse], PRIORITY[warehouse], 0, available,
                     COUNTRY[warehouse], warehouse)


FIXTURE = [
    stock("ES", "X", 10), stock("ES", "Y", 10), stock("ES", "Z", 3),
    stock("PT", "X", 10), stock("PT", "Y", 10), stock("PT", "Z", 3),
    stock("FR", "X", 10), stock("FR", "Y", 10), stock("FR", "Z", 5),
]
XY = {"X": 2, "Y": 2}  # every warehouse has everything
Z8 = {"Z": 8}  # no warehouse has everything


def paths(demand: dict[str, int]) -> dict[str, tuple]:
    return {sku: ("lines", i, "sku") for i, sku in enumerate(demand)}


def run(demand: dict[str, int], *rules: Rule, candidates: list[Candidate] | None = None, destination: str = "FR",
        channel: SalesChannel = SalesChannel.WEB, delivery: DeliveryType = DeliveryType.SHIP) -> tuple[list[Pick], dict]:
    return sourcing.plan(demand, FIXTURE if candidates is None else candidates, paths(demand), snapshot=Snapshot(tuple(rules), SEUR),
                         channel=channel, destination_country=destination, delivery_type=delivery)


def shape(picks: list[Pick]) -> set[tuple[str, str, int]]:
    return {(CODES[p.warehouse_id], p.sku, p.quantity) for p in picks}


def warehouses(picks: list[Pick]) -> set[str]:
    return {CODES[p.warehouse_id] for p in picks}


# --- each strategy picks differently on the same stock ---------------------------------------------------------------


def test_priority_takes_the_lowest_priority_warehouse_with_everything() -> None:
    picks, why = run(XY, Rule(0, S.PRIORITY))
    assert shape(picks) == {("ES", "X", 2), ("ES", "Y", 2)}
    assert (why["rule"], why["strategy"], why["chosen"]) == (0, "PRIORITY", ["ES"])


def test_ranking_takes_the_first_ranked_warehouse_with_everything() -> None:
    picks, why = run(XY, Rule(0, S.RANKING, ranking=("PT", "FR")))
    assert warehouses(picks) == {"PT"}
    assert why["chosen"] == ["PT"]


def test_ranking_puts_unlisted_warehouses_after_the_listed_ones_by_priority() -> None:
    # FR has everything but is unlisted; the listed PT lacks Y: FR beats nothing listed, ES (priority 1) beats FR
    candidates = [stock("PT", "X", 5), stock("ES", "X", 5), stock("ES", "Y", 5), stock("FR", "X", 5), stock("FR", "Y", 5)]
    picks, _ = run(XY, Rule(0, S.RANKING, ranking=("PT",)), candidates=candidates)
    assert warehouses(picks) == {"ES"}


def test_closest_complete_takes_the_fewest_transit_days_to_the_destination() -> None:
    picks, why = run(XY, Rule(0, S.CLOSEST_COMPLETE), destination="FR")
    assert warehouses(picks) == {"FR"}  # FR -> FR is DOMESTIC (1 day); ES and PT -> FR are EU (3 days)
    assert why["why"] == "closest warehouse with everything: FR (1 transit days)"
    considered = {c["warehouse"]: (c["fills"], c["transitDays"], c["zone"]) for c in why["considered"]}
    assert considered == {"ES": (True, 3, "EU"), "PT": (True, 3, "EU"), "FR": (True, 1, "DOMESTIC")}


def test_closest_complete_breaks_a_transit_tie_by_zone_then_priority() -> None:
    # To PT every warehouse takes 2 days (SEUR names PT itself): PT is DOMESTIC there, so it wins the tie
    picks, _ = run(XY, Rule(0, S.CLOSEST_COMPLETE), destination="PT")
    assert warehouses(picks) == {"PT"}
    # to the US everything is INTERNATIONAL (6 days): the priority decides
    picks, _ = run(XY, Rule(0, S.CLOSEST_COMPLETE), destination="US")
    assert warehouses(picks) == {"ES"}


def test_fewest_shipments_splits_over_fewer_warehouses_than_priority() -> None:
    priority, _ = run(Z8, Rule(0, S.PRIORITY))
    fewest, why = run(Z8, Rule(0, S.FEWEST_SHIPMENTS))
    assert shape(priority) == {("ES", "Z", 3), ("PT", "Z", 3), ("FR", "Z", 2)}  # by priority: three parcels
    assert shape(fewest) == {("FR", "Z", 5), ("ES", "Z", 3)}  # the largest first: two
    assert why["why"] == "fewest shipments: 2 warehouses"


def test_fewest_shipments_with_a_complete_warehouse_takes_one_by_priority() -> None:
    picks, _ = run(XY, Rule(0, S.FEWEST_SHIPMENTS))
    assert warehouses(picks) == {"ES"}


def test_fewest_shipments_covers_lines_greedily() -> None:
    # A and B together only at PT, C (2 units) only at FR: PT first (two lines), then FR; ES (A, one unit of C) never
    candidates = [stock("ES", "A", 5), stock("PT", "A", 5), stock("PT", "B", 5), stock("FR", "C", 5), stock("ES", "C", 1)]
    picks, _ = run({"A": 2, "B": 2, "C": 2}, Rule(0, S.FEWEST_SHIPMENTS), candidates=candidates)
    assert shape(picks) == {("PT", "A", 2), ("PT", "B", 2), ("FR", "C", 2)}


def test_fewest_shipments_tops_up_from_chosen_warehouses_before_opening_another() -> None:
    # B needs 8: PT (chosen for A) has 3, FR has 5, ES has 6. Taking PT's 3 then FR's 5 adds one parcel, as would ES;
    # what matters: no third parcel
    candidates = [stock("PT", "A", 5), stock("PT", "B", 3), stock("FR", "B", 5), stock("ES", "B", 4)]
    picks, _ = run({"A": 5, "B": 8}, Rule(0, S.FEWEST_SHIPMENTS), candidates=candidates)
    assert len(warehouses(picks)) == 2
    assert sum(p.quantity for p in picks if p.sku == "B") == 8


def test_closest_complete_falls_back_to_priority_by_default() -> None:
    picks, why = run(Z8, Rule(0, S.CLOSEST_COMPLETE))
    assert shape(picks) == {("ES", "Z", 3), ("PT", "Z", 3), ("FR", "Z", 2)}
    assert (why["fallback"], why["why"]) == ("PRIORITY", "no warehouse has everything: fallback PRIORITY")


def test_closest_complete_falls_back_to_its_fallback_strategy() -> None:
    picks, why = run(Z8, Rule(0, S.CLOSEST_COMPLETE, fallback=S.FEWEST_SHIPMENTS))
    assert shape(picks) == {("FR", "Z", 5), ("ES", "Z", 3)}
    assert why["fallback"] == "FEWEST_SHIPMENTS"


# --- exclusions ------------------------------------------------------------------------------------------------------


def test_an_excluded_warehouse_is_never_used() -> None:
    picks, why = run(XY, Rule(0, S.PRIORITY, exclude=("ES",)))
    assert warehouses(picks) == {"PT"}
    assert why["excluded"] == ["ES"]
    assert "ES" not in {c["warehouse"] for c in why["considered"]}


def test_exclusions_can_leave_an_order_out_of_stock() -> None:
    with pytest.raises(DomainError) as refused:
        run(Z8, Rule(0, S.FEWEST_SHIPMENTS, exclude=("FR",)))  # ES 3 + PT 3 < 8
    assert (refused.value.code, refused.value.path) == (ErrorCode.OUT_OF_STOCK, ("lines", 0, "sku"))


# --- which rule applies ----------------------------------------------------------------------------------------------


def test_a_channel_specific_rule_applies_to_its_channel_only() -> None:
    rule = Rule(0, S.RANKING, channel=SalesChannel.MARKETPLACE, ranking=("FR",))
    web, why_web = run(XY, rule, channel=SalesChannel.WEB)
    marketplace, why_marketplace = run(XY, rule, channel=SalesChannel.MARKETPLACE)
    assert (warehouses(web), why_web["rule"]) == ({"ES"}, None)  # no rule: priority
    assert (warehouses(marketplace), why_marketplace["rule"]) == ({"FR"}, 0)


def test_a_delivery_type_rule_applies_to_that_type_only() -> None:
    rule = Rule(0, S.RANKING, delivery_type=DeliveryType.PICKUP, ranking=("PT",))
    assert warehouses(run(XY, rule, delivery=DeliveryType.SHIP)[0]) == {"ES"}
    assert warehouses(run(XY, rule, delivery=DeliveryType.PICKUP)[0]) == {"PT"}


def test_a_country_rule_beats_a_zone_rule_listed_before_it() -> None:
    rules = (Rule(0, S.RANKING, zones=("EU",), ranking=("PT",)), Rule(1, S.CLOSEST_COMPLETE, countries=("FR",)),
             Rule(2, S.RANKING, ranking=("FR",)))
    to_france, why = run(XY, *rules, destination="FR")
    assert (warehouses(to_france), why["rule"]) == ({"FR"}, 1)
    to_germany, why = run(XY, *rules, destination="DE")  # EU from every warehouse: the zone rule
    assert (warehouses(to_germany), why["rule"], why["destinationZone"]) == ({"PT"}, 0, "EU")
    to_us, why = run(XY, *rules, destination="US")  # neither: the catch-all
    assert (warehouses(to_us), why["rule"], why["destinationZone"]) == ({"FR"}, 2, "INTERNATIONAL")


def test_among_equally_specific_rules_the_first_applies() -> None:
    rules = (Rule(0, S.RANKING, zones=("EU",), ranking=("FR",)), Rule(1, S.RANKING, zones=("EU",), ranking=("PT",)))
    assert warehouses(run(XY, *rules, destination="DE")[0]) == {"FR"}


def test_a_rule_naming_other_destinations_does_not_apply() -> None:
    picks, why = run(XY, Rule(0, S.RANKING, countries=("DE",), zones=("INTERNATIONAL",), ranking=("FR",)), destination="FR")
    assert (warehouses(picks), why["rule"], why["strategy"]) == ({"ES"}, None, "PRIORITY")


def test_the_destination_zone_is_the_nearest_from_the_warehouses() -> None:
    assert sourcing.destination_zone(FIXTURE, "ES") == "DOMESTIC"
    assert sourcing.destination_zone(FIXTURE, "DE") == "EU"
    assert sourcing.destination_zone(FIXTURE, "GB") == "INTERNATIONAL"
    assert sourcing.destination_zone([stock("US", "X", 1)], "US") == "DOMESTIC"
    assert sourcing.destination_zone([], "ES") == "INTERNATIONAL"


# --- no rules: today's plan, exactly ---------------------------------------------------------------------------------


def test_without_rules_the_routing_plans_exactly_as_plan_allocation() -> None:
    rng = random.Random(19)
    for _ in range(300):
        codes = rng.sample(list(COUNTRY), rng.randint(1, 4))
        skus = rng.sample(["A", "B", "C", "D"], rng.randint(1, 4))
        candidates = [stock(w, sku, rng.randint(0, 6)) for w in codes for sku in skus if rng.random() < 0.8]
        demand = {sku: rng.randint(1, 5) for sku in skus}
        routing = sourcing.Routing(sourcing.NO_RULES, SalesChannel.WEB, "ES")
        try:
            expected = plan_allocation(demand, candidates, paths(demand))
        except DomainError as refused:
            with pytest.raises(DomainError) as same:
                routing.plan(demand, candidates, paths(demand))
            assert (same.value.code, same.value.path) == (refused.code, refused.path)
            continue
        assert routing.plan(demand, candidates, paths(demand)) == expected
        assert routing.explanation == {}  # nothing to explain: the PLACED event stays as it was


def test_a_rule_that_does_not_match_plans_as_plan_allocation() -> None:
    picks, why = run(Z8, Rule(0, S.FEWEST_SHIPMENTS, channel=SalesChannel.PHONE))
    assert picks == plan_allocation(Z8, FIXTURE, paths(Z8))
    assert (why["rule"], why["strategy"]) == (None, "PRIORITY")


def test_every_strategy_makes_a_valid_plan_or_refuses_like_plan_allocation() -> None:
    rng = random.Random(7)
    for _ in range(400):
        codes = rng.sample(list(COUNTRY), rng.randint(1, 4))
        skus = rng.sample(["A", "B", "C"], rng.randint(1, 3))
        candidates = [stock(w, sku, rng.randint(0, 6)) for w in codes for sku in skus if rng.random() < 0.8]
        demand = {sku: rng.randint(1, 6) for sku in skus}
        strategy = rng.choice(list(S))
        rule = Rule(0, strategy, ranking=tuple(rng.sample(codes, len(codes))) if strategy == S.RANKING else (),
                    fallback=rng.choice([None, S.FEWEST_SHIPMENTS, S.RANKING]) if strategy == S.CLOSEST_COMPLETE else None)
        try:
            plan_allocation(demand, candidates, paths(demand))
            feasible = True
        except DomainError:
            feasible = False
        if not feasible:
            with pytest.raises(DomainError) as refused:
                run(demand, rule, candidates=candidates)
            assert refused.value.code == ErrorCode.OUT_OF_STOCK
            continue
        picks, why = run(demand, rule, candidates=candidates)
        got: dict[str, int] = defaultdict(int)
        level = {c.stock_level_id: c for c in candidates}
        taken: dict[uuid.UUID, int] = defaultdict(int)
        for p in picks:
            assert p.quantity > 0
            got[p.sku] += p.quantity
            taken[p.stock_level_id] += p.quantity
            assert level[p.stock_level_id].sku == p.sku and level[p.stock_level_id].warehouse_id == p.warehouse_id
        assert dict(got) == demand
        assert all(taken[i] <= level[i].available for i in taken)
        assert set(why["chosen"]) == warehouses(picks)
        if strategy == S.FEWEST_SHIPMENTS:  # never more parcels than today's rule
            assert len(warehouses(picks)) <= len(warehouses(plan_allocation(demand, candidates, paths(demand))))


# --- the reads placement gives it -----------------------------------------------------------------------------------


def test_zones_and_transit_days_agree_with_the_carrier_rules() -> None:
    countries = ["ES", "PT", "FR", "DE", "IT", "GB", "US", "CH", "MX", "SE"]
    for table in ({"DOMESTIC": 1, "PT": 2, "EU": 3, "INTERNATIONAL": 6}, {"DOMESTIC": 2, "EU": 5}, {"US": 4}, {}):
        rules = carriers.CarrierRules("C", table, 7, time(17, 0), "Europe/Madrid")
        transit = Transit(table, 7)
        for origin in countries:
            for destination in countries:
                assert sourcing.zone_of(origin, destination) == carriers.zone_of(origin, destination)
                assert transit.to(origin, destination) == rules.transit_to(origin_country=origin, destination_country=destination)
    assert sourcing.EU_COUNTRIES == carriers.EU_COUNTRIES
    assert Transit().to("ES", "JP") == carriers.FALLBACK.transit_to(origin_country="ES", destination_country="JP")


def test_the_snapshot_is_parsed_from_the_catalogue_column() -> None:
    assert sourcing.snapshot_of(None) is sourcing.NO_RULES
    raw = ('{"rules": [{"position": 0, "name": "Spain", "channel": "WEB", "countries": ["ES"], "zones": [], "deliveryType": "SHIP", '
           '"strategy": "CLOSEST_COMPLETE", "fallback": "RANKING", "ranking": ["MAD"], "exclude": ["BCN"]}], '
           '"carrier": {"days": {"DOMESTIC": 1}, "default": 4}}')
    snapshot = sourcing.snapshot_of(raw)
    assert snapshot.rules == (Rule(0, S.CLOSEST_COMPLETE, name="Spain", channel=SalesChannel.WEB, countries=("ES",), delivery_type=DeliveryType.SHIP,
                                   fallback=S.RANKING, ranking=("MAD",), exclude=("BCN",)),)
    assert snapshot.transit == Transit({"DOMESTIC": 1}, 4)
    no_carrier = sourcing.snapshot_of('{"rules": [{"position": 0, "strategy": "PRIORITY"}], "carrier": null}')
    assert no_carrier.transit == Transit() and no_carrier.rules[0].exclude == ()


def test_a_replan_rewrites_the_same_explanation_dict() -> None:
    routing = sourcing.Routing(Snapshot((Rule(0, S.CLOSEST_COMPLETE),), SEUR), SalesChannel.WEB, "FR")
    explanation = routing.explanation
    routing.plan(XY, FIXTURE, paths(XY))
    assert explanation["chosen"] == ["FR"]
    without_fr = [c for c in FIXTURE if c.code != "FR"]
    routing.plan(XY, without_fr, paths(XY))  # the locked re-plan: FR's stock is gone
    assert routing.explanation is explanation and explanation["chosen"] == ["ES"]  # ES and PT tie on 3 days: priority
