"""Password and PIN policy of the site: :mod:`vcc_domain.secrets`, shared with the hub
(whose province people sign in there), re-exported here for the site's code."""

from vcc_domain.secrets import *  # noqa: F403
