"""Project files: raw uploads stored under AYON_STORAGE_DIR, attached to activities by id."""
