"""Sizes of remote images, fetched only from allow-listed hosts when a job's config says so.

The core never touches the network; this edge module is the one place that may, and only under
``media.allow_fetch``: http(s) only, exact host allow-list, no redirects, a timeout and a byte cap.
Only the image header is needed, so it asks for the first 64 KiB and reads more only if the header
is not in there.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson

from jobs.config import Media
from tokcount_core import ImageHints
from tokcount_core.media import InvalidMedia, image_size

_HEADER_BYTES = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could lead off the allow-list


class ImageSizer:
    """Per-process: builds ``ImageHints`` for a request body; caches sizes (and failures) by URL."""

    def __init__(self, media: Media):
        self.media = media
        self.hosts = {h.lower() for h in media.allow_hosts}
        self.cache: dict[str, tuple[int, int] | None] = {}
        self.opener = urllib.request.build_opener(_NoRedirect)

    def hints(self, body: Any) -> ImageHints | None:
        if not self.media.allow_fetch:
            return ImageHints(default_size=self.media.default_image_size) if self.media.default_image_size else None
        if isinstance(body, str | bytes):  # bodies stored as JSON strings
            try:
                body = orjson.loads(body)
            except orjson.JSONDecodeError:
                return None  # the core reports the bad JSON
        sizes = {}
        for url in remote_image_urls(body):
            if self.allowed(url):
                if url not in self.cache:
                    self.cache[url] = self._fetch_size(url)
                if self.cache[url] is not None:
                    sizes[url] = self.cache[url]
        return ImageHints(sizes=sizes, default_size=self.media.default_image_size)

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in self.hosts

    def _fetch_size(self, url: str) -> tuple[int, int] | None:
        data = b""
        for limit in (_HEADER_BYTES, self.media.max_bytes):
            request = urllib.request.Request(url, headers={"Range": f"bytes=0-{limit - 1}"})
            try:
                with self.opener.open(request, timeout=self.media.timeout_seconds) as response:
                    data = response.read(limit)
            except (urllib.error.URLError, OSError, ValueError):
                return None
            try:
                return image_size(data)
            except InvalidMedia:
                if len(data) < limit:  # the whole image was read and is still not an image
                    return None
        return None


def remote_image_urls(node: Any) -> Iterator[str]:
    """http(s) image URLs anywhere in a body: Responses ``input_image`` and Chat ``image_url``."""
    if isinstance(node, dict):
        ref = node.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            yield url
        for value in node.values():
            if isinstance(value, dict | list):
                yield from remote_image_urls(value)
    elif isinstance(node, list):
        for value in node:
            yield from remote_image_urls(value)
