"""The pure parts of the delivery promise (app/fulfilment/promise.py, app/fulfilment/carriers.py): which
carrier transit applies (country, then zone, then default), the parcel arrival it gives with the carrier's
cut-off and time zone, and which warehouse made-to-order units leave from."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

from app.fulfilment.carriers import FALLBACK, CarrierRules, tracking_url, zone_of
from app.fulfilment.promise import choose_made_to_order_warehouse, parcel_arrival
from models import Warehouse

SEUR = CarrierRules("SEUR", {"DOMESTIC": 1, "EU": 3, "PT": 2, "INTERNATIONAL": 6}, 9, time(18, 0), "Europe/Madrid")
BARE = CarrierRules("BARE", {}, 4, time(12, 0), "Europe/London")


def test_zones_are_relative_to_the_shipping_warehouse() -> None:
    assert zone_of("ES", "ES") == "DOMESTIC"
    assert zone_of("es", "ES") == "DOMESTIC"
    assert zone_of("ES", "FR") == "EU"
    assert zone_of("DE", "PT") == "EU"
    assert zone_of("ES", "GB") == "INTERNATIONAL"   # not in the EU
    assert zone_of("US", "US") == "DOMESTIC"
    assert zone_of("US", "ES") == "INTERNATIONAL"


def test_transit_looks_up_the_country_then_the_zone_then_the_default() -> None:
    assert SEUR.transit_to(origin_country="ES", destination_country="PT") == 2    # the country beats the EU zone
    assert SEUR.transit_to(origin_country="ES", destination_country="pt") == 2    # case does not matter
    assert SEUR.transit_to(origin_country="ES", destination_country="ES") == 1
    assert SEUR.transit_to(origin_country="ES", destination_country="FR") == 3
    assert SEUR.transit_to(origin_country="FR", destination_country="ES") == 3    # EU from a French warehouse
    assert SEUR.transit_to(origin_country="ES", destination_country="US") == 6
    assert BARE.transit_to(origin_country="ES", destination_country="ES") == 4    # nothing configured: the default


def test_without_any_carrier_the_promise_is_two_business_days_with_a_five_pm_madrid_cut_off() -> None:
    assert (FALLBACK.default_transit_days, FALLBACK.cutoff_time, FALLBACK.timezone) == (2, time(17, 0), "Europe/Madrid")
    assert FALLBACK.transit_to(origin_country="ES", destination_country="JP") == 2


def test_parcel_arrival_uses_the_carriers_transit_cut_off_and_time_zone() -> None:
    monday_1730_madrid = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)
    # SEUR cuts off at 18:00 Madrid: leaves Monday; domestic 1 day -> Tuesday; Portugal 2 -> Wednesday.
    assert parcel_arrival(SEUR, ready_at=monday_1730_madrid, origin_country="ES", destination_country="ES") == date(2026, 11, 24)
    assert parcel_arrival(SEUR, ready_at=monday_1730_madrid, origin_country="ES", destination_country="PT") == date(2026, 11, 25)
    # The fallback cuts off at 17:00 Madrid: leaves Tuesday, +2 -> Thursday.
    assert parcel_arrival(FALLBACK, ready_at=monday_1730_madrid, origin_country="ES", destination_country="ES") == date(2026, 11, 26)
    # BARE cuts off at 12:00 London: 16:30 there is late; leaves Tuesday, +4 business days -> next Monday.
    assert parcel_arrival(BARE, ready_at=monday_1730_madrid, origin_country="ES", destination_country="ES") == date(2026, 11, 30)


def warehouse(code: str, *, priority: int, channels: list[str]) -> Warehouse:
    return Warehouse(id=uuid.uuid5(uuid.NAMESPACE_OID, code), code=code, name=code, channels=channels, country="ES", priority=priority)


MAD = warehouse("MAD", priority=1, channels=["WEB", "MOBILE"])
BCN = warehouse("BCN", priority=0, channels=["STORE"])
VLC = warehouse("VLC", priority=2, channels=["WEB"])
BIO = warehouse("BIO", priority=1, channels=["WEB"])
ALL = [VLC, BCN, MAD, BIO]


def test_made_to_order_units_leave_from_the_best_warehouse_already_shipping_part_of_the_order() -> None:
    # Among the order's own warehouses, whatever channels they serve: lowest priority, then code.
    assert choose_made_to_order_warehouse(ALL, channel="WEB", allocation_warehouse_ids=[VLC.id, BCN.id]) is BCN
    assert choose_made_to_order_warehouse(ALL, channel="WEB", allocation_warehouse_ids=[VLC.id]) is VLC
    assert choose_made_to_order_warehouse(ALL, channel="WEB", allocation_warehouse_ids=[MAD.id, BIO.id, MAD.id]) is BIO  # tie: code


def test_otherwise_from_the_best_warehouse_serving_the_orders_channel() -> None:
    assert choose_made_to_order_warehouse(ALL, channel="WEB", allocation_warehouse_ids=[]) is BIO        # BCN (0) does not serve WEB
    assert choose_made_to_order_warehouse(ALL, channel="STORE", allocation_warehouse_ids=[]) is BCN
    assert choose_made_to_order_warehouse(ALL, channel="MOBILE", allocation_warehouse_ids=[]) is MAD
    assert choose_made_to_order_warehouse(ALL, channel="PHONE", allocation_warehouse_ids=[]) is None     # nobody serves it
    assert choose_made_to_order_warehouse([], channel="WEB", allocation_warehouse_ids=[]) is None


def test_tracking_urls_fill_the_placeholder_url_quoted() -> None:
    template = "https://track.example/parcel?n={tracking_number}"
    assert tracking_url(template, "PQ123ES") == "https://track.example/parcel?n=PQ123ES"
    assert tracking_url(template, "A B/&C") == "https://track.example/parcel?n=A%20B%2F%26C"
    assert tracking_url(None, "PQ123ES") is None
    assert tracking_url(template, None) is None
    assert tracking_url(template, "") is None
