"""SevenNet (sevenn 0.10.4) as a potential backend: the shipped SevenNet-0 fine-tuned on
seiflow's labels through sevenn's own training API. ``settings`` (no torch import), ``model``
(network, calculator, save/load), ``fit`` (fine-tuning)."""
