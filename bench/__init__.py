"""josev benchmarks: ``python -m bench [NAME ...]`` runs them and prints figures."""
