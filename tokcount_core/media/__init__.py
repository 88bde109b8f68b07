"""Media inside requests (images, audio, files): pure functions on bytes, no I/O, no network.

Sizes and durations come from the bytes sent; costs follow OpenAI's documented formulas (see each
module for its sources). Every failure is an ``InvalidMedia`` (``MediaTooLarge`` past a limit).
"""

from tokcount_core.media.audio import AUDIO_INPUT_TOKENS_PER_SECOND, audio_duration_seconds, audio_tokens
from tokcount_core.media.data_url import decode_base64, decode_data_url
from tokcount_core.media.errors import InvalidMedia, MediaTooLarge, UnsupportedFileType
from tokcount_core.media.files import file_text_and_pages
from tokcount_core.media.image_cost import image_tokens, patch_count, tile_count
from tokcount_core.media.image_header import image_size

__all__ = [
    "AUDIO_INPUT_TOKENS_PER_SECOND",
    "InvalidMedia",
    "MediaTooLarge",
    "UnsupportedFileType",
    "audio_duration_seconds",
    "audio_tokens",
    "decode_base64",
    "decode_data_url",
    "file_text_and_pages",
    "image_size",
    "image_tokens",
    "patch_count",
    "tile_count",
]
