"""Moved to common.settings; kept so scripts written against the old path still import."""

from common.settings import *  # noqa: F403
from common.settings import get_settings, project_root  # noqa: F401
