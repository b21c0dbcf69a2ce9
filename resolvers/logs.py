"""Quiet logs (issue 13): client errors at INFO in one line, no traceback, no document excerpt.

strawberry's `Schema.process_errors` logs *every* error at ERROR (`strawberry.execution`), with a traceback
for any GraphQLError raised in a resolver (FORBIDDEN, LIMIT_EXCEEDED…: its original_error is itself).
Unexpected errors (an original error that is not a GraphQLError) are logged once, at ERROR with the request
id and the traceback, by resolvers.errors.MaskUnexpectedErrors; this override does not log them again.
`error.message` only: `str(error)` prints the document around the error, which may hold personal data.
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError

client_log = logging.getLogger("oms.graphql.client")


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class QuietSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        context = getattr(execution_context, "context", None)
        request_id = getattr(context, "request_id", None) or "-"
        operation = getattr(execution_context, "operation_name", None) or "-"
        for error in errors:
            if is_unexpected(error):
                continue  # MaskUnexpectedErrors logs it at ERROR with the request id
            code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED" if error.path is None else "-")
            client_log.info("client error [request %s] %s %s at %s: %s", request_id, operation, code, error.path, error.message)
