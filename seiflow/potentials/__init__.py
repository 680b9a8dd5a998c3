"""Machine-learning interatomic potentials: one protocol, one backend per module."""
