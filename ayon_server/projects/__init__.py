"""Projects: public.projects, each project's own schema, anatomy presets (DESIGN §7)."""
