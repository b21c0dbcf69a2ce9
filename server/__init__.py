"""The composition root: builds the ASGI app, its routes and lifespan, and the `oms` command line.
The only package that imports every layer (domain, resolvers, schema)."""
