"""The climate-extremes twin: xclim indicators, GEV return levels, anomalies (see its docs page)."""
