"""Project-level entities (folders, tasks, products, versions, representations, workfiles):
one registry, one implementation for all six types, and batched operations."""
