"""Thread ids and checkpoint namespaces: what the saver accepts, and the tract each pair maps to.

The rules live in :mod:`tract_core.names` (the ``tract`` command line uses them too:
``tract log --thread ID``); this module names them as the saver uses them. :func:`tract_id_for`
is :func:`tract_core.names.thread_tract_id`.
"""

from __future__ import annotations

from tract_core.names import MAX_ID_BYTES, SEPARATOR, check_namespace, check_thread_id, hashed_tract_id
from tract_core.names import thread_tract_id as tract_id_for

__all__ = ["MAX_ID_BYTES", "SEPARATOR", "check_thread_id", "check_namespace", "tract_id_for", "hashed_tract_id"]
