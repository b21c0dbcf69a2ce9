"""Risk assessment at placement by rules kept as data, and the RISK_REVIEW hold before any capture (issue 18).

conftest empties every table before each test, risk_rules included, so the other suites place orders with no rule;
these tests write the seeded rules (DEFAULT_RULES, which migration 0011 seeds) first.
"""

from __future__ import annotations

import importlib.util
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from app.billing import config
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.orders import risk
from app.orders.enums import RiskLevel, RiskRuleKind
from app.orders.risk import RiskFacts, Rule
from models import Order, OrderEvent
from models.billing import Payment
from models.holds import OrderHold, RiskRule
from resolvers.ids import to_global_id
from tests import factories
from tests.factories import ADDRESS_INPUT

ORDER_FIELDS = """id status paymentStatus holds { reason note } risk { level source facts { rule level detail } assessedAt }
payments { id status capturedAmount { amount } } events { edges { node { type status } } }"""
PLACE = f"""
mutation Place($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field code message }} }} }}
"""
CONFIRM = f"""
mutation Confirm($input: OrderIdInput!) {{ confirmOrder(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field code message }} }} }}
"""
RELEASE = f"""
mutation Release($input: OrderIdInput!) {{ releaseOrder(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field code message }} }} }}
"""
CAPTURE = """
mutation Capture($input: CapturePaymentInput!) { capturePayment(input: $input) { payment { status } userErrors { field code message } } }
"""
ASSESS = f"""
mutation Assess($input: AssessOrderRiskInput!) {{
  assessOrderRisk(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field code message }} eventCursor }}
}}
"""
ORDER = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
HIGH = Decimal("5000")
FACTS = RiskFacts(Decimal("100.00"), "EUR", "ES", None)


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


# --- the rules, pure ----------------------------------------------------------------------------------------------


def rule(kind: str, level: str, params: dict[str, Any] | None = None, **found: Any) -> Rule:
    return Rule(RiskRuleKind(kind), RiskLevel(level), params or {}, 0, **found)


def test_no_rule_matched_is_low_with_no_facts() -> None:
    assessment = risk.assess(FACTS, [rule("AMOUNT_OVER", "HIGH"), rule("COUNTRY_MISMATCH", "MEDIUM")], high_amount=HIGH)
    assert (assessment.level, assessment.facts) == (RiskLevel.LOW, [])


def test_the_level_is_the_highest_matched_rule_and_each_match_is_a_fact() -> None:
    facts = RiskFacts(Decimal("5000.01"), "EUR", "ES", "FR")
    assessment = risk.assess(facts, [rule("COUNTRY_MISMATCH", "MEDIUM"), rule("AMOUNT_OVER", "HIGH")], high_amount=HIGH)
    assert assessment.level == RiskLevel.HIGH
    assert [(f["rule"], f["level"]) for f in assessment.facts] == [("COUNTRY_MISMATCH", "MEDIUM"), ("AMOUNT_OVER", "HIGH")]
    assert "5000.01 EUR is over 5000 EUR" in assessment.facts[1]["detail"]


def test_amount_over_is_strictly_over_its_own_amount_or_the_setting() -> None:
    at = RiskFacts(Decimal("5000.00"), "EUR", "ES", None)
    assert risk.assess(at, [rule("AMOUNT_OVER", "HIGH")], high_amount=HIGH).level == RiskLevel.LOW
    assert risk.assess(at, [rule("AMOUNT_OVER", "HIGH", {"amount": "4999.99"})], high_amount=HIGH).level == RiskLevel.HIGH
    assert risk.assess(at, [rule("AMOUNT_OVER", "HIGH")], high_amount=Decimal("100")).level == RiskLevel.HIGH
    assert risk.assess(at, [rule("AMOUNT_OVER", "HIGH", {"amount": "lots"})], high_amount=HIGH).level == RiskLevel.LOW  # malformed: never


def test_velocity_and_first_order_use_what_the_statement_found() -> None:
    velocity = {"count": 5, "minutes": 60}
    assert risk.assess(FACTS, [rule("EMAIL_VELOCITY", "HIGH", velocity, recent_orders=4)], high_amount=HIGH).level == RiskLevel.LOW
    assert risk.assess(FACTS, [rule("EMAIL_VELOCITY", "HIGH", velocity, recent_orders=5)], high_amount=HIGH).level == RiskLevel.HIGH
    first = {"amount": "50"}
    assert risk.assess(FACTS, [rule("FIRST_ORDER_OVER", "MEDIUM", first, earlier_order=True)], high_amount=HIGH).level == RiskLevel.LOW
    assert risk.assess(FACTS, [rule("FIRST_ORDER_OVER", "MEDIUM", first, earlier_order=False)], high_amount=HIGH).level == RiskLevel.MEDIUM


def test_the_code_defaults_are_the_rules_the_migration_seeds() -> None:
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0011_holds.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert [tuple(r) for r in risk.DEFAULT_RULES] == module.SEED


# --- at placement, on PostgreSQL ---------------------------------------------------------------------------------


async def seed_rules(db) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(insert(RiskRule), [{"id": uuid.uuid4(), "position": p, "kind": k, "params": params, "level": level, "active": True}
                                              for p, k, params, level in risk.DEFAULT_RULES])


async def risk_catalog(db) -> None:
    await seed_rules(db)
    await factories.basic_catalog(db)
    await factories.product(db, "LUX", "4200.00")  # 4200 + 21% VAT = 5082.00: over 5000
    await factories.stock(db, "LUX", "MAD", 5)


def order_input(lines: list[tuple[str, int]], *, email: str = "buyer@example.com", method: str | None = None, token: str | None = None,
                **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "WEB", "email": email, "lines": [{"sku": s, "quantity": q} for s, q in lines],
                            "shippingAddress": ADDRESS_INPUT, **extra}
    if method:
        body["payment"] = {"method": method, "token": token}
    return {"input": body}


async def place(gql, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gql(PLACE, variables)
    assert "errors" not in body, body
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    return body["data"]["placeOrder"]["order"]


async def call(gql, mutation: str, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gql(mutation, {"input": variables})
    assert "errors" not in body, body
    return body["data"][name]


def types(order: dict[str, Any]) -> list[str]:
    return [e["node"]["type"] for e in order["events"]["edges"]]


async def test_a_high_risk_card_order_is_held_before_capture_and_nothing_is_captured_until_released(gql, db, provider) -> None:
    # given the seeded rules, a card order over 5000 EUR
    await risk_catalog(db)
    # when
    order = await place(gql, order_input([("LUX", 1)], method="CARD", token="test_approve"))
    # then: held for review in the transaction that wrote it; authorised (not captured)
    assert order["status"] == "ON_HOLD" and order["paymentStatus"] == "AUTHORIZED"
    assert [h["reason"] for h in order["holds"]] == ["RISK_REVIEW"] and "5082.00 EUR is over 5000" in order["holds"][0]["note"]
    assert order["risk"]["level"] == "HIGH" and order["risk"]["source"] == "RULES"
    assert [f["rule"] for f in order["risk"]["facts"]] == ["AMOUNT_OVER", "FIRST_ORDER_OVER"]
    assert types(order) == ["PLACED", "PAYMENT_AUTHORIZED", "RISK_ASSESSED", "STATUS_CHANGED"]
    assert order["payments"][0]["capturedAmount"]["amount"] == "0.00"
    payment_id = order["payments"][0]["id"]
    # nothing captures it while held: confirmOrder, capturePayment
    confirm = await call(gql, CONFIRM, "confirmOrder", {"orderId": order["id"]})
    capture = await call(gql, CAPTURE, "capturePayment", {"paymentId": payment_id})
    assert [e["code"] for e in confirm["userErrors"] + capture["userErrors"]] == ["INVALID_TRANSITION", "INVALID_TRANSITION"]
    assert "RISK_REVIEW" in confirm["userErrors"][0]["message"]
    assert [op[0] for op in provider.operations] == ["authorize"]
    # released: back to PENDING; the normal confirmation captures
    released = await call(gql, RELEASE, "releaseOrder", {"orderId": order["id"], "reason": "customer verified"})
    assert released["order"]["status"] == "PENDING" and released["order"]["holds"] == []
    confirmed = await call(gql, CONFIRM, "confirmOrder", {"orderId": order["id"]})
    assert confirmed["order"]["status"] == "CONFIRMED" and confirmed["order"]["paymentStatus"] == "PAID"
    assert [op[0] for op in provider.operations] == ["authorize", "capture"]


async def test_a_high_risk_cash_on_delivery_order_is_held_not_confirmed(gql, db, provider) -> None:
    # the one-transaction path: cash on delivery confirms (and would invoice) at placement unless held
    await risk_catalog(db)
    order = await place(gql, order_input([("LUX", 1)], method="CASH_ON_DELIVERY"))
    assert order["status"] == "ON_HOLD" and [h["reason"] for h in order["holds"]] == ["RISK_REVIEW"]
    assert "STATUS_CHANGED" in types(order) and all(e["node"]["status"] != "CONFIRMED" for e in order["events"]["edges"])
    # released: the confirmation placement skipped happens now
    released = await call(gql, RELEASE, "releaseOrder", {"orderId": order["id"]})
    assert released["order"]["status"] == "CONFIRMED"
    changes = [e["node"]["status"] for e in released["order"]["events"]["edges"] if e["node"]["type"] == "STATUS_CHANGED"]
    assert changes == ["ON_HOLD", "PENDING", "CONFIRMED"]


async def test_a_country_mismatch_alone_is_medium_and_not_held(gql, db) -> None:
    await risk_catalog(db)
    await factories.place(db, [("A", 1)])  # an earlier order: FIRST_ORDER_OVER cannot match either way
    billing = {**ADDRESS_INPUT, "country": "FR"}
    order = await place(gql, order_input([("A", 1)], billingAddress=billing))
    assert order["status"] == "PENDING" and order["holds"] == []
    assert order["risk"]["level"] == "MEDIUM"
    assert order["risk"]["facts"] == [{"rule": "COUNTRY_MISMATCH", "level": "MEDIUM",
                                       "detail": "billing country FR differs from shipping country ES"}]
    assert "RISK_ASSESSED" in types(order)


async def test_a_clean_order_is_low_with_no_event(gql, db) -> None:
    await risk_catalog(db)
    order = await place(gql, order_input([("A", 1)]))
    assert order["risk"]["level"] == "LOW" and order["risk"]["facts"] == [] and order["risk"]["assessedAt"]
    assert types(order) == ["PLACED"]


async def test_the_sixth_order_from_one_email_within_the_hour_is_held(gql, db) -> None:
    await risk_catalog(db)
    placed = [await place(gql, order_input([("A", 1)], email="fast@example.com")) for _ in range(6)]
    assert [o["status"] for o in placed] == ["PENDING"] * 5 + ["ON_HOLD"]
    assert [f["rule"] for f in placed[5]["risk"]["facts"]] == ["EMAIL_VELOCITY"]
    assert placed[5]["risk"]["facts"][0]["detail"].startswith("5 earlier orders from this email in the last 60 minutes")
    # another email is not affected
    assert (await place(gql, order_input([("A", 1)], email="slow@example.com")))["status"] == "PENDING"


async def test_rules_are_data_an_inactive_rule_does_not_apply(gql, db) -> None:
    await risk_catalog(db)
    async with db.engine.begin() as conn:
        await conn.execute(RiskRule.__table__.update().where(RiskRule.kind == "AMOUNT_OVER").values(active=False))
    order = await place(gql, order_input([("LUX", 1)]))
    assert order["status"] == "PENDING" and order["risk"]["level"] == "MEDIUM"  # only FIRST_ORDER_OVER is left to match


async def test_a_providers_high_verdict_holds_a_confirmed_order_and_a_low_one_releases_nothing(gql, db, provider, monkeypatch) -> None:
    await risk_catalog(db)
    # capture at shipment: confirmation captures nothing, so the held order's authorisation is still open
    monkeypatch.setattr(config, "_current", replace(config.settings(), capture_moment="shipment"))
    order = await place(gql, order_input([("A", 1)], method="CARD", token="test_approve"))
    confirmed = await call(gql, CONFIRM, "confirmOrder", {"orderId": order["id"]})
    assert confirmed["order"]["status"] == "CONFIRMED"
    verdict = {"orderId": order["id"], "level": "HIGH", "provider": "acme-fraud",
               "facts": [{"rule": "DEVICE_SEEN_IN_FRAUD", "detail": "device fingerprint matched a chargeback"}]}
    held = await call(gql, ASSESS, "assessOrderRisk", verdict)
    assert held["userErrors"] == [] and held["eventCursor"] is not None
    assert held["order"]["status"] == "ON_HOLD" and [h["reason"] for h in held["order"]["holds"]] == ["RISK_REVIEW"]
    assert held["order"]["risk"]["source"] == "PROVIDER" and held["order"]["risk"]["facts"] == [
        {"rule": "DEVICE_SEEN_IN_FRAUD", "level": "HIGH", "detail": "device fingerprint matched a chargeback"}]
    capture = await call(gql, CAPTURE, "capturePayment", {"paymentId": order["payments"][0]["id"]})
    assert [(e["code"], e["field"]) for e in capture["userErrors"]] == [("INVALID_TRANSITION", ["input", "paymentId"])]
    assert [op[0] for op in provider.operations] == ["authorize"]
    # the same verdict again adds no second hold; a LOW one releases nothing
    await call(gql, ASSESS, "assessOrderRisk", verdict)
    low = await call(gql, ASSESS, "assessOrderRisk", {**verdict, "level": "LOW", "facts": []})
    assert low["order"]["status"] == "ON_HOLD" and len(low["order"]["holds"]) == 1 and low["order"]["risk"]["level"] == "LOW"
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(OrderHold))).scalar_one() == 1
        assessed = (await session.execute(select(func.count()).select_from(OrderEvent).where(OrderEvent.type == "RISK_ASSESSED"))).scalar_one()
    assert assessed == 3
    # released: it resumes CONFIRMED
    assert (await call(gql, RELEASE, "releaseOrder", {"orderId": order["id"]}))["order"]["status"] == "CONFIRMED"


async def test_bad_verdicts_are_refused_writing_nothing(gql, db) -> None:
    await risk_catalog(db)
    order = await factories.place(db, [("A", 1)])
    order_id = to_global_id("Order", order.id)
    cases = [
        ({"provider": " "}, ("INVALID_INPUT", ["input", "provider"])),
        ({"facts": [{"rule": "X", "detail": ""}]}, ("INVALID_INPUT", ["input", "facts", "0", "detail"])),
        ({"facts": [{"rule": "X", "detail": "y"}] * 21}, ("LIMIT_EXCEEDED", ["input", "facts"])),
        ({"orderId": "nope"}, ("NOT_FOUND", ["input", "orderId"])),
        ({"orderId": to_global_id("Order", uuid.uuid4())}, ("NOT_FOUND", ["input", "orderId"])),
    ]
    for change, expected in cases:
        result = await call(gql, ASSESS, "assessOrderRisk", {"orderId": order_id, "level": "HIGH", "provider": "acme", **change})
        assert result["order"] is None and [(e["code"], e["field"]) for e in result["userErrors"]] == [expected], change
    async with db.read() as session:
        row = await session.get(Order, order.id)
        assert row is not None and row.status == "PENDING" and row.risk_source == "RULES"
        assert (await session.execute(select(func.count()).select_from(OrderEvent).where(OrderEvent.type == "RISK_ASSESSED"))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(Payment))).scalar_one() == 0


async def test_order_reads_show_holds_and_risk_through_the_read_planner_roots(gql, db) -> None:
    # the planner does not map the new fields: a query selecting them falls back to the resolvers, same answer
    await risk_catalog(db)
    placed = await place(gql, order_input([("LUX", 1)]))
    one = await gql(ORDER, {"id": placed["id"]})
    many = await gql("{ orders(first: 5) { edges { node { id holds { reason } risk { level facts { rule } } } } } }")
    assert "errors" not in one and "errors" not in many, (one, many)
    assert one["data"]["order"]["holds"] == [{"reason": "RISK_REVIEW", "note": placed["holds"][0]["note"]}]
    assert one["data"]["order"]["risk"] == placed["risk"]
    node = many["data"]["orders"]["edges"][0]["node"]
    assert node["holds"] == [{"reason": "RISK_REVIEW"}] and node["risk"]["level"] == "HIGH"


def test_the_high_amount_setting_is_read_once_and_a_bad_one_fails_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.infra.settings import Settings

    assert Settings().risk_high_amount == Decimal("5000")
    monkeypatch.setenv("OMS_RISK_HIGH_AMOUNT", "7500.50")
    assert Settings.from_env().risk_high_amount == Decimal("7500.50")
    for bad in ("lots", "-1", "0", "NaN"):
        monkeypatch.setenv("OMS_RISK_HIGH_AMOUNT", bad)
        with pytest.raises(ValueError, match="OMS_RISK_HIGH_AMOUNT"):
            Settings.from_env()


async def test_a_high_risk_placement_writes_its_hold_with_the_order_in_the_same_statements_as_a_low_one(gql, db) -> None:
    # issue 16, session 8: the RISK_REVIEW hold and the order's ON_HOLD status are written with the order (its one
    # statement), not flushed by the ORM at commit (an INSERT of the hold and an UPDATE of the order)
    await risk_catalog(db)
    await place(gql, order_input([("A", 1)], email="warm@example.com"))  # the key cached, the customer known
    with db.count_statements() as low:
        await place(gql, order_input([("A", 1)], email="warm@example.com"))
    with db.count_statements() as high:
        order = await place(gql, order_input([("LUX", 1)], email="warm@example.com"))
    assert order["status"] == "ON_HOLD" and [h["reason"] for h in order["holds"]] == ["RISK_REVIEW"]
    assert "5082.00 EUR is over 5000" in order["holds"][0]["note"]
    assert [(e["node"]["type"], e["node"]["status"]) for e in order["events"]["edges"]] == [
        ("PLACED", "PENDING"), ("RISK_ASSESSED", "PENDING"), ("STATUS_CHANGED", "ON_HOLD")]
    written = [" ".join(s.split()) for s in high.statements]
    assert len(written) == len(low.statements), "\n".join(written)
    assert not any(s.startswith(("INSERT INTO order_holds", "UPDATE orders")) for s in written), "\n".join(written)
    async with db.read() as session:
        row = (await session.execute(select(Order).where(Order.status == "ON_HOLD"))).scalar_one()
        hold = (await session.execute(select(OrderHold).where(OrderHold.order_id == row.id))).scalar_one()
        events = (await session.execute(select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq))).scalars().all()
    assert row.held_from == "PENDING" and row.change_seq == events[-1].seq
    assert hold.released_at is None and hold.created_by == events[-1].actor and hold.created_at is not None
    assert [(e.type, e.status, e.previous_status) for e in events] == [
        ("PLACED", "PENDING", None), ("RISK_ASSESSED", "PENDING", "PENDING"), ("STATUS_CHANGED", "ON_HOLD", "PENDING")]
    assert events[-1].data["holdId"] == str(hold.id) and events[-1].data["reason"] == "RISK_REVIEW"
