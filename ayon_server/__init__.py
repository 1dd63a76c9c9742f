"""AYON-style pipeline server core."""
