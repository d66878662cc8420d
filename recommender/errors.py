"""Every error and warning the recommender package raises, in one place.

Each message says what was expected, what arrived and what to do about it.
"""


class MovieBotError(Exception):
    """Base class of the errors raised by the recommender package."""


class DataError(MovieBotError):
    """MovieLens data is missing, unreadable or in a layout we do not know."""


class DownloadError(DataError):
    """A MovieLens archive could not be fetched or failed its checksum."""


class ModelError(MovieBotError):
    """A model was given input it cannot use, or training went wrong."""


class NotFittedError(ModelError):
    """A model was asked for recommendations before `fit` or `load`."""


class TrainingDivergedError(ModelError):
    """The training loss became NaN or infinite."""


class ArtifactError(MovieBotError):
    """Trained models are missing or were written by an incompatible version."""


class DataWarning(UserWarning):
    """Something in the data was skipped or repaired while loading."""
