"""Webhooks (issue 17): partner endpoints fed from the committed order event log, signed per Standard Webhooks."""
