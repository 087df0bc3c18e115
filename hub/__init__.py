"""The hub: ingest, storage, analytics, alerts and provisioning."""
