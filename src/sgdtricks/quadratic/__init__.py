"""Momentum on a quadratic, where its behaviour has closed forms: theory.py says what the rate must be,
iterate.py measures it from the iterates, report.py (`python -m sgdtricks.quadratic --out DIR`) draws both."""
