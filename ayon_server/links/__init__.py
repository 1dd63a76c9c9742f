"""Entity links of a project: link types named "type|input|output" and the links between two
entities of those types. References are polymorphic (no foreign keys), so the
clean_links and clean_dead_links maintenance tasks remove what deletions leave behind."""
