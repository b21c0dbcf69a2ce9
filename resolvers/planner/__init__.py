"""The read planner (issue 15): a root query field's selection compiled to one SQL statement whose JSON
PostgreSQL builds. `api.planned` is what root resolvers call; `core` the compiler; one mapping module per
domain (orders, fulfilment, ...) loaded by `mappings`; `execution` the graphql-core hook that passes the
JSON through untouched. See /README.md "Read planner" and ARCHITECTURE.md."""
