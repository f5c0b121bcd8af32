"""Flood forecasting twin: HBV rainfall-runoff model of the Fulda at Grebenau (Hesse)."""
