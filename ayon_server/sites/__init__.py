"""Client site records: which machines run the client, for whom, in which version.

There is no registration endpoint: GET /api/info upserts the record from the client's x-ayon-*
headers (`headers`), and `store` owns the SQL of public.sites.
"""
