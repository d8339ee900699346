"""Errors the pipeline raises on purpose: each message is one line a user can act on."""


class PipelineError(Exception):
    """Base class: the run stops and the message is shown as the cause."""


class ParamError(PipelineError):
    """A parameter is unknown, of the wrong type or out of range."""


class InputError(PipelineError):
    """A source file is missing, unreadable or does not have the expected shape."""


class CheckFailed(PipelineError):
    """A blocking data-quality check failed."""


class S3Error(PipelineError):
    """An S3 location is malformed or an S3 operation failed; the message names the bucket,
    key or endpoint, never a credential."""
