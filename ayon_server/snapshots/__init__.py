"""Daily snapshots of what the server holds, one row a UTC day in public.metrics.

`contents` measures the server now (counts and sizes); `store` keeps, prunes and counts the
stored days. Not to be confused with the live Prometheus series of ayon_server.prometheus: a
snapshot is a trend point kept for months, collected by the maintenance task collect_metrics.
"""
