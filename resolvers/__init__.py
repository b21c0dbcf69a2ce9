"""Glue between the GraphQL schema and the domain: IDs, access, loaders, userErrors, pagination."""
