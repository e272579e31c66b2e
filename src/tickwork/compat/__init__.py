"""Drop-in replacements for other scheduling libraries.

``tickwork.compat.schedule`` behaves like the ``schedule`` package (version 1.2), so an
existing program switches by changing one import::

    from tickwork.compat import schedule

See ``docs/migrating-from-schedule.md`` for the switch, the known ``schedule`` bugs it
reproduces on purpose, and the way on to tickwork's native scheduler.
"""

from __future__ import annotations
