"""Orchestration: every study of a profile as Hydra multiruns (reproduce), and the W&B command line.

The top layer: it starts training jobs and builds the reports, and nothing below imports it.
"""
