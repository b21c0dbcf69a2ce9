"""Infrastructure the domain runs on: database and unit of work, live event hub, embedded PostgreSQL,
settings, metrics, migrations. Knows nothing of the domain packages or of GraphQL."""
