"""Metrics: lagged mutual information and statistics of fitted state sequences."""

from .mutual_information import LaggedMI as LaggedMI
from .mutual_information import lagged_mutual_information as lagged_mutual_information
from .mutual_information import markov_surrogates as markov_surrogates
