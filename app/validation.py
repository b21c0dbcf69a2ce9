"""Input checks shared by the domain services."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from app.errors import DomainError, ErrorCode, Path

E = TypeVar("E", bound=StrEnum)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
    BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS
    IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM
    MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS
    PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK
    TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)
CURRENCIES = frozenset("EUR USD GBP CHF SEK NOK DKK PLN CZK HUF RON BGN JPY CAD AUD MXN BRL".split())

ADDRESS_REQUIRED = ("name", "line1", "city", "postal_code", "country")
# Messages name a field as clients spell it.
ADDRESS_LABEL = {"postal_code": "postalCode"}


def normalise_email(email: str, path: Path, errors: list[DomainError]) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Enter a valid email address.", path))
    return email


def check_address(address: dict[str, Any], path: Path, errors: list[DomainError]) -> dict[str, Any]:
    """Return the address with trimmed values and an upper-case country; collect problems."""
    clean = {key: (value.strip() if isinstance(value, str) else value) for key, value in address.items()}
    for key in ADDRESS_REQUIRED:
        if not clean.get(key):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{ADDRESS_LABEL.get(key, key)} is required.", (*path, key)))
    for key, value in clean.items():
        if isinstance(value, str) and len(value) > 300:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{ADDRESS_LABEL.get(key, key)} is too long.", (*path, key)))
    country = (clean.get("country") or "").upper()
    if clean.get("country") and country not in COUNTRIES:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Use an ISO 3166-1 alpha-2 country code.", (*path, "country")))
    clean["country"] = country
    return clean


def parse_decimal(value: Any, path: Path, *, minimum: Decimal | None = None, maximum: Decimal | None = None) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(ErrorCode.INVALID_INPUT, "Not a decimal number.", path) from None
    if not number.is_finite():
        raise DomainError(ErrorCode.INVALID_INPUT, "Not a finite number.", path)
    if minimum is not None and number < minimum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Must be at least {minimum}.", path)
    if maximum is not None and number > maximum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Must be at most {maximum}.", path)
    return number


def member_of(enum: type[E], value: str, path: Path, message: str, errors: list[DomainError]) -> E | None:
    """`value` as a member of `enum` (callers outside the API may pass the plain value); collect a problem."""
    try:
        return enum(value)
    except ValueError:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, message, path))
        return None


MAX_IDEMPOTENCY_KEY = 200


def check_idempotency_key(key: str | None) -> str | None:
    """A client's idempotencyKey: absent, or 1 to 200 characters, not blank (INVALID_INPUT at idempotency_key)."""
    if key is not None and (not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY):
        raise DomainError(ErrorCode.INVALID_INPUT, f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters.", ("idempotency_key",))
    return key
