"""The drought twin: SPI, SPEI, drought events, soil-moisture bucket (docs/twins/drought.md)."""
