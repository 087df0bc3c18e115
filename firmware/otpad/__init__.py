"""Otklik button pad firmware (MicroPython; the pure modules also run under CPython for the tests)."""

VERSION = "otpad-0.1.0"
