"""tokcount_core: exact, offline input-token counts for OpenAI-style request bodies.

``count(request)`` takes a Responses, Bifrost ``count_tokens`` or Chat Completions body and returns a
``CountResult``; it never raises for bad input (errors are data) and never touches the network.
"""

from tokcount_core.count import count, count_many
from tokcount_core.limits import ImageHints, Limits
from tokcount_core.registry import Registry, default_registry
from tokcount_core.result import RULES_VERSION, CountResult, Details, ErrorCode, EstimateReason

__all__ = [
    "RULES_VERSION",
    "CountResult",
    "Details",
    "ErrorCode",
    "EstimateReason",
    "ImageHints",
    "Limits",
    "Registry",
    "count",
    "count_many",
    "default_registry",
]
