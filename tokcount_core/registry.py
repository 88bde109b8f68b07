"""Model registry: which encoding, overheads and image formula a model uses. Data, not branches.

Constants and their sources are in ``tokcount_core/models.py``; this module only resolves names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from tokcount_core.models import DATED_ALIASES, FAMILIES, PROVIDERS_COUNTED_AS_OPENAI, ModelSpec

_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class UnknownModel(LookupError):
    pass


class UnsupportedProvider(LookupError):
    pass


@dataclass
class Registry:
    """Resolves a model name (dated snapshot, Azure alias, ``provider/`` prefix) to a ``ModelSpec``."""

    families: dict[str, ModelSpec]
    aliases: dict[str, str] = field(default_factory=dict)
    unknown_model_encoding: str | None = None
    extra_providers: frozenset[str] = frozenset()
    # Resolved names, so the per-record cost is a dict lookup (the hot path).
    _resolved: dict[str, tuple[ModelSpec, bool] | None] = field(default_factory=dict, repr=False, compare=False)

    def resolve(self, model: str, as_of: date | None = None) -> tuple[ModelSpec, bool]:
        """The spec for ``model`` (as the alias stood on ``as_of``) and whether it was only mapped,
        so that the count is an estimate."""
        name = model.strip()
        if "/" in name:
            provider, _, name = name.partition("/")
            if provider.lower() not in PROVIDERS_COUNTED_AS_OPENAI | self.extra_providers:
                raise UnsupportedProvider(f"provider {provider!r} is not counted by OpenAI's rules")
        name = name.lower()
        name = self.aliases.get(name, name)
        if as_of is not None:
            name = next((snapshot for until, snapshot in DATED_ALIASES.get(name, ()) if as_of < until), name)
        if name not in self._resolved:
            spec = self._lookup(name)
            self._resolved[name] = (replace(spec, name=name), spec.unverified) if spec else None
        found = self._resolved[name]
        if found is not None:
            return found
        if self.unknown_model_encoding:
            return ModelSpec(name=name, family="unknown", encoding=self.unknown_model_encoding), True
        raise UnknownModel(f"unknown model {model!r}")

    def _lookup(self, name: str) -> ModelSpec | None:
        if name in self.families:
            return self.families[name]
        undated = _DATE_SUFFIX.sub("", name)
        if undated in self.families:
            return self.families[undated]
        # Longest family prefix wins, so "gpt-4o-mini-x" is gpt-4o-mini, not gpt-4o.
        best = max((f for f in self.families if undated.startswith(f + "-")), key=len, default=None)
        return self.families[best] if best else None

    def with_overrides(self, aliases: dict[str, str] | None = None, unknown_model_encoding: str | None = None,
                       providers: list[str] | None = None) -> Registry:
        return Registry(
            families=self.families,
            aliases={**self.aliases, **{k.lower(): v.lower() for k, v in (aliases or {}).items()}},
            unknown_model_encoding=unknown_model_encoding or self.unknown_model_encoding,
            extra_providers=self.extra_providers | frozenset(p.lower() for p in providers or ()),
        )


def default_registry() -> Registry:
    return _DEFAULT


_DEFAULT = Registry(families=FAMILIES, aliases={"gpt-35-turbo": "gpt-3.5-turbo",
                                                "gpt-35-turbo-16k": "gpt-3.5-turbo-16k"})
