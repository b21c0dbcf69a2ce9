"""Input checks shared by the domain services."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from app.errors import DomainError, ErrorCode

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
# Addresses are stored with snake_case keys; errors name the input's camelCase field.
ADDRESS_FIELD = {"postal_code": "postalCode"}


def normalise_email(email: str, field: list[str], errors: list[DomainError]) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Enter a valid email address.", field))
    return email


def check_address(address: dict[str, Any], field: list[str], errors: list[DomainError]) -> dict[str, Any]:
    """Return the address with trimmed values and an upper-case country; collect problems."""
    clean = {key: (value.strip() if isinstance(value, str) else value) for key, value in address.items()}
    for key in ADDRESS_REQUIRED:
        if not clean.get(key):
            name = ADDRESS_FIELD.get(key, key)
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{name} is required.", [*field, name]))
    for key, value in clean.items():
        if isinstance(value, str) and len(value) > 300:
            name = ADDRESS_FIELD.get(key, key)
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{name} is too long.", [*field, name]))
    country = (clean.get("country") or "").upper()
    if clean.get("country") and country not in COUNTRIES:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Use an ISO 3166-1 alpha-2 country code.", [*field, "country"]))
    clean["country"] = country
    return clean


def parse_decimal(value: Any, field: list[str], *, minimum: Decimal | None = None, maximum: Decimal | None = None) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(ErrorCode.INVALID_INPUT, "Not a decimal number.", field) from None
    if not number.is_finite():
        raise DomainError(ErrorCode.INVALID_INPUT, "Not a finite number.", field)
    if minimum is not None and number < minimum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Must be at least {minimum}.", field)
    if maximum is not None and number > maximum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Must be at most {maximum}.", field)
    return number
