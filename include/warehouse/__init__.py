"""The warehouse database: where it is (connection, embedded server) and what it holds (schema)."""
