"""Carriers: configuration rows (table `carriers`, seeded by migration 0002) and the rules read from them.

A carrier has a tracking URL template (`{tracking_number}` placeholder), transit days per
destination country or zone and a daily cut-off. Zones are relative to the shipping
warehouse: `DOMESTIC` (same country), `EU` (both in the EU), `INTERNATIONAL` (anything else).
Lookup order: destination country, then its zone, then the carrier's default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import time
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path, collect
from app.infra.database import UnitOfWork
from app.validation import COUNTRIES
from models.fulfilment import Carrier

PLACEHOLDER = "{tracking_number}"
ZONES = ("DOMESTIC", "EU", "INTERNATIONAL")
EU_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
MAX_TRANSIT_DAYS = 60


@dataclass(frozen=True, slots=True)
class CarrierRules:
    """What the promise needs of a carrier, detached from the session."""

    code: str
    transit_days: dict[str, int]
    default_transit_days: int
    cutoff_time: time
    timezone: str

    @classmethod
    def of(cls, carrier: Carrier) -> CarrierRules:
        return cls(carrier.code, dict(carrier.transit_days or {}), carrier.default_transit_days, carrier.cutoff_time, carrier.timezone)

    def transit_to(self, *, origin_country: str, destination_country: str) -> int:
        destination = destination_country.upper()
        if destination in self.transit_days:
            return int(self.transit_days[destination])
        zone = zone_of(origin_country, destination)
        if zone in self.transit_days:
            return int(self.transit_days[zone])
        return self.default_transit_days


# Used when no carrier is configured at all: the foundation's two business days.
FALLBACK = CarrierRules("NONE", {}, 2, time(17, 0), "Europe/Madrid")


def zone_of(origin_country: str, destination_country: str) -> str:
    origin, destination = origin_country.upper(), destination_country.upper()
    if origin == destination:
        return "DOMESTIC"
    if origin in EU_COUNTRIES and destination in EU_COUNTRIES:
        return "EU"
    return "INTERNATIONAL"


def tracking_url(template: str | None, tracking_number: str | None) -> str | None:
    if not template or not tracking_number:
        return None
    return template.replace(PLACEHOLDER, quote(tracking_number, safe=""))


async def get_active(session: AsyncSession, code: str, path: Path) -> Carrier:
    carrier = (await session.execute(select(Carrier).where(Carrier.code == code.strip().upper()))).scalar_one_or_none()
    if carrier is None or not carrier.active:
        raise DomainError(ErrorCode.NOT_FOUND, f"Unknown carrier {code!r}.", path)
    return carrier


_DEFAULT_CARRIER = select(Carrier).where(Carrier.active).order_by(Carrier.is_default.desc(), Carrier.code).limit(1)  # built once (issue 16)


async def default_rules(session: AsyncSession) -> CarrierRules:
    """The carrier assumed before one is chosen: the default one, else the first active by code."""
    carrier = (await session.execute(_DEFAULT_CARRIER)).scalar_one_or_none()
    return CarrierRules.of(carrier) if carrier is not None else FALLBACK


def default_of(raw: str) -> CarrierRules:
    """`default_rules`' answer from the JSON text the placement's catalogue read carries (writes7, session 7:
    app/orders/service.py DEFAULT_CARRIER_SQL, the same carrier as `_DEFAULT_CARRIER`; '{}': none active)."""
    found = json.loads(raw)
    if not found:
        return FALLBACK
    return rules_of_json(found)


def rules_of_json(found: dict[str, Any]) -> CarrierRules:
    """A carrier's rules from its JSON object as the placement's catalogue read builds it (code, transit_days,
    default_transit_days, cutoff_time, timezone)."""
    return CarrierRules(found["code"], dict(found["transit_days"] or {}), found["default_transit_days"],
                        time.fromisoformat(found["cutoff_time"]), found["timezone"])


async def list_active(session: AsyncSession) -> list[Carrier]:
    return list((await session.execute(select(Carrier).where(Carrier.active).order_by(Carrier.code))).scalars())


def _check(code: str, name: str, template: str | None, transit_days: dict[str, Any], default_transit_days: int, tz_name: str) -> list[DomainError]:
    errors: list[DomainError] = []
    if not code or len(code) > 32 or not code.replace("_", "").replace("-", "").isalnum():
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Code must be 1 to 32 letters, digits, '-' or '_'.", ("code",)))
    if not name or len(name) > 200:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Name must be 1 to 200 characters.", ("name",)))
    if template is not None and (PLACEHOLDER not in template or len(template) > 500 or not template.startswith("https://")):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"The template must be an https URL containing {PLACEHOLDER}.", ("tracking_url_template",)))
    for key, days in transit_days.items():
        if key not in ZONES and key not in COUNTRIES:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{key!r} is neither a country code nor one of {', '.join(ZONES)}.", ("transit_days", key)))
        if not isinstance(days, int) or not 0 <= days <= MAX_TRANSIT_DAYS:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Transit days must be 0 to {MAX_TRANSIT_DAYS}.", ("transit_days", key)))
    if not 0 <= default_transit_days <= MAX_TRANSIT_DAYS:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Transit days must be 0 to {MAX_TRANSIT_DAYS}.", ("default_transit_days",)))
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Unknown time zone.", ("timezone",)))
    return errors


async def upsert_carrier(
    *, uow: UnitOfWork, code: str, name: str, tracking_url_template: str | None = None, transit_days: dict[str, int] | None = None,
    default_transit_days: int = 3, cutoff_time: time = time(17, 0), timezone: str = "Europe/Madrid", is_default: bool = False,
    active: bool = True,
) -> Carrier:
    """Create or reconfigure a carrier (demo seed, tests, operators' scripts)."""
    code, name = code.strip().upper(), name.strip()
    transit = {key.strip().upper(): days for key, days in (transit_days or {}).items()}
    collect(_check(code, name, tracking_url_template, transit, default_transit_days, timezone))
    if is_default:  # one default at a time (a partial unique index backs this)
        await uow.session.execute(update(Carrier).where(Carrier.is_default, Carrier.code != code).values(is_default=False))
    values = {
        "name": name, "tracking_url_template": tracking_url_template, "transit_days": transit, "default_transit_days": default_transit_days,
        "cutoff_time": cutoff_time, "timezone": timezone, "is_default": is_default, "active": active,
    }
    statement = (
        pg_insert(Carrier).values(code=code, **values).on_conflict_do_update(index_elements=[Carrier.code], set_=values)
        .returning(Carrier).execution_options(populate_existing=True)
    )
    return (await uow.session.scalars(statement)).one()
