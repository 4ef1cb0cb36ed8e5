"""Objectives, one file each; each module registers its own."""
