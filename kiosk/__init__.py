"""The kiosk app that runs on the Raspberry Pi."""
