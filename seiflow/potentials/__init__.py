"""Machine-learning interatomic potentials: one protocol, one backend per module.

``from seiflow.potentials import load_potential, PotentialSettings`` works (the registry is
imported on first use, so importing one backend does not import every other)."""

_FROM_REGISTRY = ("BACKENDS", "BACKEND_NAMES", "PotentialSettings", "load_potential",
                  "register_backend", "require_gradable")


def __getattr__(name: str):
    if name in _FROM_REGISTRY:
        from seiflow.potentials import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'seiflow.potentials' has no attribute {name!r}")


__all__ = list(_FROM_REGISTRY)
