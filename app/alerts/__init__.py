"""Alerts (issue 19): problems found before customers notice them, raised and cleared by the scanner."""
