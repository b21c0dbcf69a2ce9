"""Orders: placement, allocation, the status state machine and the event timeline."""
