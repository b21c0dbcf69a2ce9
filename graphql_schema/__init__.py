"""The public GraphQL API, declared: types, inputs, enums and the root types.

Types read their fields from whatever the resolvers return (ORM rows or small
dataclasses); the few computed fields here only reshape data, they never do I/O
except through `resolvers`.
"""
