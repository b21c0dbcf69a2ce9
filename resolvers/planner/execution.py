"""The graphql-core execution hook of the read planner: a root resolver that returns the planner's
orjson.Fragment gets it back as the field's completed value, with no field-by-field completion; the HTTP
view's orjson encoder writes the fragment's bytes into the response as they are."""

from __future__ import annotations

from typing import Any

import orjson
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.planner import mappings

__all__ = ["PlannedExecutionContext", "mappings"]


class PlannedExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def complete_value(self, return_type: Any, field_details_list: Any, info: Any, path: Any, result: Any, position_context: Any) -> Any:
        if type(result) is orjson.Fragment:
            return result
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)
