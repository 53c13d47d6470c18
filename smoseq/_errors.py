"""Errors smoseq raises for bad input: one line naming the file or recording and the problem."""


class InputError(ValueError):
    """Bad input data or arguments; the message names where and what."""


class ModelFileError(ValueError):
    """A saved fit or model folder that is missing, truncated, incompatible or unsafe."""
