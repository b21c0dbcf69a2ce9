"""The business core of the OMS: domain packages (`app.orders`, `app.catalog`, `app.billing`, ...)
that decide, `app.flows` for work spanning them, and `app.infra` they run on. Knows nothing of GraphQL;
`server` wires it to HTTP, WebSocket and the database."""
