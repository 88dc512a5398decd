"""Development, test and benchmark tooling: the synthetic registry, `generate_registry`, the
benchmarks and their floor view. Installed by the dev, test and bench settings only; production
(config/settings/prod.py) neither installs nor ships it, and its files are not part of the code
hashed into public ETags (registry/caching.py)."""
