"""Benchmarks: each ``bench/bench_<topic>.py`` has a ``main()``; ``python -m bench`` runs them all."""
