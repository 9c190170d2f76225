"""Training: optimisers, schedules, device/precision, and the loop."""
