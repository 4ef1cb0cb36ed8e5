"""Architectures; each module registers its own."""
