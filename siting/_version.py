"""The package version and the attribution every OSM-derived output carries.

Kept apart from ``siting/__init__`` so modules can import them without importing the
package's public face (which imports the pipeline).
"""

__version__ = "0.1.0"

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
