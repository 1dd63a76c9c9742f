"""Helpers several test files share, one module per kind: waiting, projects, events, server,
metrics, maintenance, ayon_client, fault_proxy (cuts or stalls PostgreSQL and Redis). Test
modules import from here, never from each other."""
