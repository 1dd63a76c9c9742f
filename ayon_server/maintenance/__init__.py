"""Maintenance state the whole server shares: configuration, task catalog, lock and run history.

The API, the status page and the metrics read it here; the `maintenance` package (runner,
scheduler, tasks, CLI) builds on it. Nothing here imports `maintenance`: a server process gets
what it needs from that package handed in (see `service`).
"""
