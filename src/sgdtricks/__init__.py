"""sgdtricks: measured answers to a lecture on SGD momentum and learning-rate decay."""

__version__ = "0.1.0"
