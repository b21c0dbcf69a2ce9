"""Composition root and business core of the OMS.

Domain packages (`app.orders`, `app.catalog`, ...) hold the rules and know
nothing of GraphQL; `app.main` wires them to HTTP, WebSocket and the database.
"""
