"""The web frontend served at `/`: a server-rendered status page (no build step, no assets)."""
