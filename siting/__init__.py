"""siting: geospatial siting of charging piles, logistics parks and waste-heat pipes.

Built for Zibo's carbon-peak plan; runs on any OpenStreetMap region.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
