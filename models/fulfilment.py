"""Persistence for the fulfilment domain."""

from __future__ import annotations
