"""Thumbnails: small images stored in each project's `thumbnails` table.

Entities point at a thumbnail by `thumbnail_id` without a foreign key; replacing an entity's
thumbnail leaves the old one unreferenced, and the clean_thumbnails maintenance task deletes
such thumbnails after a grace period.
"""
