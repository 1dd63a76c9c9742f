"""Server replicas: who is serving (public.replicas, heartbeated) and what each has installed
(public.replica_packages, written by that replica's background installer)."""
