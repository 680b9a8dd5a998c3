"""seiflow: SEI structures -> reference labels -> machine-learning potentials -> properties."""

__version__ = "0.1.0"
