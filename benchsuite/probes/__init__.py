"""Probes: textbook experiments run against an objective and a regulariser (one file each)."""
