"""Experiment code: measurements of the engine (the proving ground, trigger evaluation) that call the same stages
the product runs but are not part of the product's stage path."""
