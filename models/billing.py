"""Persistence for the billing domain."""

from __future__ import annotations
