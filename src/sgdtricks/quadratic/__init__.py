"""Momentum on a quadratic, where its behaviour has closed forms: theory.py says what the rate must be,
iterate.py measures it from the iterates, study.py sets the study's measurements, figures.py and tables.py
show them, page.py writes the section, report.py (`python -m sgdtricks.quadratic --out DIR`) builds it all."""
