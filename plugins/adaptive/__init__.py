"""Adaptive-length image tokenizers: ALIT (recurrent allocation) and KARL (single-pass halting)."""
