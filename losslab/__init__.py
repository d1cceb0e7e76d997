"""losslab: loss functions and their gradients (placeholder, filled by the core)."""
