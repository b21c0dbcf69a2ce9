"""Fulfilment: pick lists, shipments, carriers, tracking and the delivery promise."""
