"""Issue 13: bad input gets a clear 4xx or a coded client error, never a 5xx or a masked internal error,
and nothing runs: NUL bytes, over-deep JSON, invalid encodings, out-of-range numbers and decimals,
oversized strings and bodies."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from models import Product
from tests import factories

UPSERT = "mutation($input: ProductInput!) { upsertProduct(input: $input) { product { sku } userErrors { code } } }"


def product(**extra: object) -> dict[str, object]:
    return {"sku": "NEW", "name": "New", "price": "9.90", "currency": "EUR", "taxRate": "0.21", **extra}


async def products_named_new(db) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Product).where(Product.sku.like("NEW%")))).scalar_one()


def is_client_error(body: dict, code: str | None = None) -> bool:
    errors = body.get("errors") or []
    codes = [(e.get("extensions") or {}).get("code") for e in errors]
    # every error has a code, none is a masked internal error
    return bool(errors) and None not in codes and "INTERNAL_SERVER_ERROR" not in codes and (code is None or code in codes)


async def post(client, token: str, content: bytes, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    return await client.post("/graphql", content=content, headers={"Authorization": f"Bearer {token}", "content-type": content_type})


async def test_hostile_json_bodies_are_400_not_500(client, admin_token) -> None:
    deep = b'{"query": "{ __typename }", "variables": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2000 + b"}"
    bodies = {
        "2,000 deep": deep,
        "40 deep": b'{"query": "{ __typename }", "variables": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
        "not UTF-8": b'{"query": "{ __typename \xff\xfe }"}',
        "5,000 digits": b'{"query": "{ __typename }", "variables": {"n": ' + b"9" * 5000 + b"}}",
        "lone surrogate": b'{"query": "{ __typename }", "variables": {"s": "\\ud800"}}',
        "NaN": b'{"query": "{ __typename }", "variables": {"n": NaN}}',
        "a string": b'"x"',
        "a number": b"5",
        "null": b"null",
    }
    for name, content in bodies.items():
        response = await post(client, admin_token, content)
        assert response.status_code == 400, (name, response.status_code, response.text[:200])


async def test_nul_bytes_are_refused_with_a_code_and_nothing_is_written(gql, db) -> None:
    await factories.basic_catalog(db)
    literal = await gql('mutation { upsertProduct(input: {sku: "NEW\\u0000", name: "x", price: "1", currency: "EUR", taxRate: "0"})'
                        " { product { sku } } }")
    assert is_client_error(literal, "INVALID_INPUT"), literal
    variable = await gql(UPSERT, {"input": product(name="evil\x00name")})
    assert is_client_error(variable, "INVALID_INPUT"), variable
    assert variable["errors"][0]["extensions"]["variable"] == "$input.name"
    lookup = await gql('{ trackOrder(number: "SO-\\u0000", email: "a@b.c") { number } }', token=None)
    assert is_client_error(lookup, "INVALID_INPUT"), lookup
    assert await products_named_new(db) == 0


async def test_oversized_strings_are_refused(gql, db) -> None:
    body = await gql(UPSERT, {"input": product(name="x" * 20_000)})
    assert is_client_error(body, "INVALID_INPUT"), body
    assert await products_named_new(db) == 0


async def test_out_of_range_numbers_and_decimals_are_client_errors(gql, db) -> None:
    await factories.basic_catalog(db)
    cases = [
        ("a 5,000-digit Int literal", '{ orders(first: ' + "9" * 5000 + ") { totalCount } }", None),
        ("a 64-bit Int literal", "{ orders(first: 9223372036854775807) { totalCount } }", None),
        ("a 64-bit Int variable", "query($n: Int) { orders(first: $n) { totalCount } }", {"n": 2**40}),
    ]
    for price in ("1e999999", "NaN", "sNaN", "Infinity", "-Infinity", "1" * 40, "0.123456789", "1e3"):
        cases.append((f"price {price}", UPSERT, {"input": product(price=price)}))
        cases.append((f"price literal {price}", 'mutation { upsertProduct(input: {sku: "NEW1", name: "x", price: ' + json.dumps(price)
                      + ', currency: "EUR", taxRate: "0"}) { product { sku } } }', None))
    cases.append(("price true", UPSERT, {"input": product(price=True)}))
    cases.append(("price list", UPSERT, {"input": product(price=[1])}))
    for name, document, variables in cases:
        body = await gql(document, variables)
        assert is_client_error(body), (name, body)
        assert body.get("data") is None or body["data"].get("upsertProduct") is None, (name, body)
    assert await products_named_new(db) == 0
    fine = await gql(UPSERT, {"input": product(price="12.50")})
    assert fine["data"]["upsertProduct"]["product"] == {"sku": "NEW"}, fine


async def test_a_body_over_the_limit_is_413_and_never_executed(client, admin_token, db) -> None:
    big = json.dumps({"query": UPSERT, "variables": {"input": product(name="x" * 5_000_000)}}).encode()
    response = await post(client, admin_token, big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # no content-length: the limit counts what really arrives
        for _ in range(6):
            yield b" " * 1_000_000

    headers = {"Authorization": f"Bearer {admin_token}", "content-type": "application/json"}
    chunked = await client.post("/graphql", content=chunks(), headers=headers)
    assert chunked.status_code == 413
    assert await products_named_new(db) == 0
    ok = await post(client, admin_token, json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 5_000}}).encode())
    assert ok.status_code == 200


async def test_batching_stays_off(client, admin_token) -> None:
    response = await post(client, admin_token, b'[{"query": "{ __typename }"}, {"query": "{ __typename }"}]')
    assert response.status_code == 400
