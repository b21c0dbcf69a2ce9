"""Payments (methods, providers, captures, refunds) and invoicing (gapless numbers, credit notes)."""
