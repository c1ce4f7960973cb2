"""The query side: read models kept from the log, their runner, and their queries."""
