"""Figures (matplotlib) and grid movies (PyAV) of fitted high-level states."""

from .grid_movies import generate_grid_movies as generate_grid_movies
