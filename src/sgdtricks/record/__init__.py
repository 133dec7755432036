"""The run record: what one training run leaves in its run directory, who it is, and where it is mirrored.

files.py (the files and their atomic writes), identity.py (the one definition of a run's identity), metrics.py
(what a run's epochs add up to), provenance.py (what produced it), tracking.py (the W&B mirror). Imports only the
leaves (errors); everything above reads and writes runs through here.
"""
