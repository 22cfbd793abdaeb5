"""Implicit neural representation codecs (COIN-style fitting, VC-INR-style modulations) for images and audio."""
