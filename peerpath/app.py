"""The composition root: builds engines, registries and units of work from settings."""

from __future__ import annotations

import functools

from sqlalchemy import Engine

from lifecycle.pathways import BUILTIN_DIR, PathwayRegistry
from lifecycle.persistence.database import make_engine, require_current_schema
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor
from peerpath.settings import Settings


@functools.cache
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine(settings: Settings) -> Engine:
    return _engine(settings.database_url)


def pathways(settings: Settings) -> PathwayRegistry:
    dirs = [BUILTIN_DIR] + ([settings.pathways_dir] if settings.pathways_dir else [])
    return PathwayRegistry.from_directories(*dirs)


def unit_of_work(settings: Settings, *, check_schema: bool = True) -> UnitOfWork:
    eng = engine(settings)
    if check_schema:
        require_current_schema(eng)
    return UnitOfWork(eng, pathways(settings))


def actor(settings: Settings) -> Actor:
    return Actor(settings.actor)
