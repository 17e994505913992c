"""Moved to common.atomic; kept so scripts written against the old path still import."""

from common.atomic import *  # noqa: F403
