"""`crawlfleet`: the command line of the crawlfleet API. It talks HTTP to the API
and imports no component of the platform."""
