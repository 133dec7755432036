"""Reports: run records (local or from W&B) -> one tidy table -> figures and tables in reports/."""
