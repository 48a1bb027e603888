"""Benchmarks of the token service against flask-jwt-extended and a floor."""
