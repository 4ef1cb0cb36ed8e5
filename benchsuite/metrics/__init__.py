"""Metrics; each module registers its own."""
