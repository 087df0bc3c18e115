"""Otklik: in-store feedback kiosks, the hub that stores their presses, and the tools around them."""

__version__ = "0.1.0"
