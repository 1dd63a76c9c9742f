"""Projects: public.projects, each project's own schema, anatomy presets."""
