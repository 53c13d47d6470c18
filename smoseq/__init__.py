"""smoseq: high-level behavioural states from syllable sequences."""

__version__ = "0.1.0"
