"""The training core: data on the device, augmentation, the epoch loop and one run from config to record.

Imports the record and config layers and the leaves (models, optim); never the studies, reports or bench.
"""
