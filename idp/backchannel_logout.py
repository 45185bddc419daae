"""Where back-channel logout deliveries were queued before idp/ became feature packages.

RQ stores a job's function by name: logout jobs queued in Redis by the previous version name
``idp.backchannel_logout.deliver``. This alias lets an upgraded worker still run them; new jobs
name :func:`idp.oauth.backchannel_logout.deliver`. Remove it one release after the move.
"""

from idp.oauth.backchannel_logout import deliver

__all__ = ["deliver"]
