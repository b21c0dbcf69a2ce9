"""Catalogue (products), locations (warehouses) and the stock ledger."""
