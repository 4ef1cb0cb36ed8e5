"""Datasets; each module registers its own."""
